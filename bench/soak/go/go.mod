module github.com/liter-llm/liter-llm/bench/soak/go

go 1.23

require github.com/liter-llm/liter-llm/bindings/go v0.0.0

replace github.com/liter-llm/liter-llm/bindings/go => ../../../bindings/go
