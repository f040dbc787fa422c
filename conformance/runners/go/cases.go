package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const baseURLTemplate = "{{base_url}}"

// caseFile is a case file found under the case directory.
type caseFile struct {
	path, name string
}

// caseName is `<directory>/<file name without .json>`, relative to the case directory.
func caseName(casesDir, path string) string {
	relative, err := filepath.Rel(casesDir, path)
	if err != nil {
		relative = path
	}
	return strings.TrimSuffix(filepath.ToSlash(relative), ".json")
}

// findCases is every *.json under casesDir, ordered by name, whose name contains filter.
func findCases(casesDir, filter string) ([]caseFile, error) {
	var found []caseFile
	err := filepath.WalkDir(casesDir, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !entry.IsDir() && strings.HasSuffix(entry.Name(), ".json") {
			if name := caseName(casesDir, path); strings.Contains(name, filter) {
				found = append(found, caseFile{path, name})
			}
		}
		return nil
	})
	sort.Slice(found, func(i, j int) bool { return found[i].name < found[j].name })
	return found, err
}

func compileCaseSchema(path string) (*jsonschema.Schema, error) {
	compiler := jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	return compiler.Compile(path)
}

// loadCase reads a case file and checks it before anything runs: the case schema, its name, and
// that it cannot reach a real provider. It returns nil and the problems when it must not run.
func loadCase(file caseFile, schema *jsonschema.Schema) (map[string]any, []string) {
	data, err := os.ReadFile(file.path)
	if err != nil {
		return nil, []string{fmt.Sprintf("cannot read the case file: %v", err)}
	}
	value, err := decodeJSON(data)
	if err != nil {
		return nil, []string{fmt.Sprintf("cannot read the case file: %v", err)}
	}
	var problems []string
	var invalid *jsonschema.ValidationError
	if err := schema.Validate(value); errors.As(err, &invalid) {
		for _, problem := range describeValidation(invalid) {
			problems = append(problems, "case file breaks case.schema.json at "+problem)
		}
	} else if err != nil {
		problems = append(problems, "cannot validate the case file: "+err.Error())
	}
	if len(problems) > 0 {
		return nil, problems
	}
	testCase := value.(map[string]any)
	if testCase["name"] != file.name {
		problems = append(problems, fmt.Sprintf("the case's name is %q but its file makes it %q", testCase["name"], file.name))
	} else {
		problems = unsafeBaseURLs(testCase)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return testCase, nil
}

// unsafeBaseURLs: cases may only point at the mock upstream or a closed loopback port, and every
// provider whose key they set must get a loopback base URL, so that no case, even against a
// broken core, can send a request to a real provider.
func unsafeBaseURLs(testCase map[string]any) []string {
	env, _ := testCase["env"].(map[string]any)
	request, _ := testCase["request"].(map[string]any)
	var problems []string
	named := map[string]any{}
	for name, value := range env {
		if !strings.HasSuffix(name, "_API_KEY") {
			named[name] = value
		}
	}
	for _, name := range []string{"base_url", "api_base"} {
		if value, ok := request[name]; ok {
			named["request."+name] = value
		}
	}
	names := make([]string, 0, len(named))
	for name := range named {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		text, ok := named[name].(string)
		if !ok || !(strings.HasPrefix(text, baseURLTemplate) || strings.HasPrefix(text, "http://127.0.0.1:")) {
			problems = append(problems, fmt.Sprintf("%s must start with %s or http://127.0.0.1: (got %s)", name, baseURLTemplate, show(named[name])))
		}
	}
	_, hasBaseURL := request["base_url"]
	_, hasAPIBase := request["api_base"]
	if hasBaseURL || hasAPIBase {
		return problems
	}
	if _, ok := request["api_key"]; ok {
		problems = append(problems, "a case with request.api_key must also set request.base_url, since the key may reach any adapter")
	}
	for _, rule := range []struct {
		key  string
		urls []string
	}{
		{"OPENAI_API_KEY", []string{"OPENAI_BASE_URL"}},
		{"ANTHROPIC_API_KEY", []string{"ANTHROPIC_BASE_URL"}},
		{"CO_API_KEY", []string{"CO_API_URL", "COHERE_BASE_URL"}},
		{"COHERE_API_KEY", []string{"CO_API_URL", "COHERE_BASE_URL"}},
	} {
		if _, set := env[rule.key]; !set {
			continue
		}
		covered := false
		for _, url := range rule.urls {
			if _, ok := env[url]; ok {
				covered = true
			}
		}
		if !covered {
			problems = append(problems, fmt.Sprintf("the case sets %s, so it must set %s (or request.base_url) to a loopback URL",
				rule.key, strings.Join(rule.urls, " or ")))
		}
	}
	return problems
}

// substitute replaces {{base_url}} inside every string of value; keys are not touched.
func substitute(value any, baseURL string) any {
	return mapStrings(value, func(s string) string { return strings.ReplaceAll(s, baseURLTemplate, baseURL) })
}

// mapStrings applies f to every string inside value, returning a copy.
func mapStrings(value any, f func(string) string) any {
	switch v := value.(type) {
	case string:
		return f(v)
	case []any:
		items := make([]any, len(v))
		for i, item := range v {
			items[i] = mapStrings(item, f)
		}
		return items
	case map[string]any:
		object := make(map[string]any, len(v))
		for key, item := range v {
			object[key] = mapStrings(item, f)
		}
		return object
	}
	return value
}
