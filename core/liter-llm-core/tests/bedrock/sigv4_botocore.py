"""Signs requests with botocore's SigV4Auth, the reference the Bedrock signer is checked against.

Reads a JSON list of requests on stdin ({method, url, headers, body, access_key_id,
secret_access_key, session_token, region, time}: `time` in seconds since the epoch) and prints,
for each, the headers SigV4Auth adds: authorization, x-amz-date, and x-amz-security-token when
the credentials have a session token.
"""

import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    request = AWSRequest(
        method=case["method"],
        url=case["url"],
        data=case["body"].encode(),
        headers=case["headers"],
    )
    credentials = Credentials(case["access_key_id"], case["secret_access_key"], case["session_token"])
    moment = datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=moment):
        SigV4Auth(credentials, "bedrock", case["region"]).add_auth(request)
    names = ["Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256"]
    return {name.lower(): request.headers[name] for name in names if name in request.headers}


print(json.dumps([sign(case) for case in json.load(sys.stdin)]))
