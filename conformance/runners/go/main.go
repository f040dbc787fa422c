// Command conformance runs the liter-llm conformance cases through the Go binding.
//
//	cd conformance/runners/go && go run . [--cases DIR] [--results FILE] [-k SUBSTRING]
//
// What a runner must do is written in conformance/RUNNER_CONTRACT.md; this program follows it
// step by step, as runners/python/run.py does, and writes the same results file byte for byte.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
	"github.com/liter-llm/liter-llm/bindings/go/mockupstream"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// repoRoot is the checkout this runner belongs to: found from its source file, else from the
// working directory upwards.
func repoRoot() (string, error) {
	isRoot := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "conformance", "RUNNER_CONTRACT.md"))
		return err == nil
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		if dir := filepath.Join(filepath.Dir(file), "..", "..", ".."); isRoot(dir) {
			return filepath.Abs(dir)
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the liter-llm checkout (conformance/RUNNER_CONTRACT.md) from here")
		}
		dir = parent
	}
}

// run is the whole program; it returns the exit status of RUNNER_CONTRACT.md: 0 when every case
// passed, 1 when one failed (or -k matched nothing), 2 when the runner could not start.
func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("conformance", flag.ContinueOnError)
	flags.SetOutput(stderr)
	casesFlag := flags.String("cases", "", "directory of case files (default conformance/cases)")
	resultsFlag := flags.String("results", "", "write one canonical JSON line per case to this file")
	filter := flags.String("k", "", "run only cases whose name contains this")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", flags.Args())
		return 2
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	casesDir := *casesFlag
	if casesDir == "" {
		casesDir = filepath.Join(root, "conformance", "cases")
	}
	if casesDir, err = filepath.Abs(casesDir); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	selected, err := findCases(casesDir, *filter)
	if err != nil {
		fmt.Fprintf(stderr, "cannot read the cases: %v\n", err)
		return 2
	}
	if len(selected) == 0 {
		fmt.Fprintf(stderr, "no case under %s matches %q\n", casesDir, *filter)
		return 1
	}

	// The binding checks the library's ABI on its first call: make that call here, so a library
	// it cannot use stops the run instead of failing every case.
	probe := map[string]any{"model": "conformance-probe", "prompt": "x"}
	if _, err := literllm.Invoke(context.Background(), "mock", probe); err != nil {
		fmt.Fprintf(stderr, "cannot use the Go binding: %v\n", err)
		return 2
	}
	caseSchema, err := compileCaseSchema(filepath.Join(root, "conformance", "schema", "case.schema.json"))
	if err != nil {
		fmt.Fprintf(stderr, "cannot compile case.schema.json: %v\n", err)
		return 2
	}
	specsRoot, err := findSpecsRoot(root)
	if err != nil {
		fmt.Fprintf(stderr, "cannot find the official request schemas: %v\n", err)
		return 2
	}
	specs := &upstreamSpecs{root: specsRoot}
	for _, name := range proxyVariables {
		os.Unsetenv(name)
	}
	upstream, err := mockupstream.FromEnvironment(filepath.Join(root, "core", "target", "release", "liter-llm-mock-upstream"))
	if err != nil {
		fmt.Fprintf(stderr, "cannot start the mock upstream: %v\n", err)
		return 2
	}
	defer upstream.Close()

	var outcomes []*outcome
	for _, file := range selected {
		out := runOne(file, caseSchema, upstream, specs)
		outcomes = append(outcomes, out)
		if out.ok() {
			fmt.Fprintf(stdout, "PASS %s\n", out.name)
		} else {
			fmt.Fprintf(stdout, "FAIL %s: %s\n", out.name, out.reasons[0])
			for _, reason := range out.reasons[1:] {
				fmt.Fprintf(stdout, "    %s\n", reason)
			}
		}
	}

	if *resultsFlag != "" {
		if err := writeResults(*resultsFlag, outcomes); err != nil {
			fmt.Fprintf(stderr, "cannot write the results: %v\n", err)
			return 2
		}
	}
	failed := 0
	for _, out := range outcomes {
		if !out.ok() {
			failed++
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", len(outcomes)-failed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

func runOne(file caseFile, caseSchema *jsonschema.Schema, upstream *mockupstream.Server, specs *upstreamSpecs) *outcome {
	testCase, problems := loadCase(file, caseSchema)
	if testCase == nil {
		return &outcome{name: file.name, reasons: problems}
	}
	out, err := runCase(testCase, upstream, specs)
	var malformed *caseError
	var refused *mockError
	switch {
	case errors.As(err, &malformed):
		return &outcome{name: file.name, reasons: []string{"malformed matcher: " + err.Error()}}
	case errors.As(err, &refused):
		return &outcome{name: file.name, reasons: []string{"the mock upstream refused the case: " + err.Error()}}
	case err != nil:
		return &outcome{name: file.name, reasons: []string{err.Error()}}
	}
	return out
}

func writeResults(path string, outcomes []*outcome) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var lines []byte
	for _, out := range outcomes {
		line, err := canonicalJSON(map[string]any{"case": out.name, "ok": out.ok(), "result": out.result})
		if err != nil {
			return fmt.Errorf("%s: %w", out.name, err)
		}
		lines = append(append(lines, line...), '\n')
	}
	return os.WriteFile(path, lines, 0o644)
}
