# The gateway image: a static `liter-llm` binary (glibc linked statically, rustls, no OpenSSL)
# in an empty image, running as a non-root user. `docker build -t liter-llm:0.1.0 .`
#
# The final image holds only the binary and a passwd line: use IP addresses or names the
# cluster DNS resolves (a static glibc resolves names through /etc/resolv.conf and /etc/hosts,
# which Kubernetes mounts; see docs/gateway.md).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY core/ core/
RUN cd core && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked -p liter-llm-server --target x86_64-unknown-linux-gnu \
    && install -D target/x86_64-unknown-linux-gnu/release/liter-llm /out/liter-llm \
    && echo "nonroot:x:65532:65532::/:/liter-llm" > /out/passwd

FROM scratch
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/liter-llm /liter-llm
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/liter-llm"]
CMD ["serve", "--config", "/etc/liter-llm/liter-llm.toml", "--listen", "0.0.0.0:8080"]
