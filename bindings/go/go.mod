module github.com/liter-llm/liter-llm/bindings/go

go 1.23
