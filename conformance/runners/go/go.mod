module github.com/liter-llm/liter-llm/conformance/runners/go

go 1.23

require (
	github.com/dlclark/regexp2 v1.12.0
	github.com/liter-llm/liter-llm/bindings/go v0.0.0
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	go.yaml.in/yaml/v3 v3.0.6
)

require golang.org/x/text v0.14.0 // indirect

replace github.com/liter-llm/liter-llm/bindings/go => ../../../bindings/go
