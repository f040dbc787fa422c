module github.com/liter-llm/liter-llm/conformance/runners/go

go 1.23.0

require github.com/liter-llm/liter-llm/bindings/go v0.0.0

require (
	go.opentelemetry.io/otel v1.38.0 // indirect
	go.opentelemetry.io/otel/trace v1.38.0 // indirect
)

replace github.com/liter-llm/liter-llm/bindings/go => ../../../bindings/go
