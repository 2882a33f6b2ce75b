# almanac container image: multi-stage, small non-root runtime (distroless cc: glibc,
# libgcc, CA certificates, tzdata; no shell, no fonts needed). No image is built in CI here.
#
#   docker build -t registry.example.com/almanac:0.1.0 \
#     --build-arg ALMANAC_GIT_COMMIT=$(git rev-parse --short=12 HEAD) \
#     --build-arg ALMANAC_BUILD_DATE=$(git log -1 --format=%cs) .
#
# The build context excludes .git (.dockerignore), so build.rs takes the commit and date
# for `almanac --version` from these build arguments.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
ARG ALMANAC_GIT_COMMIT=unknown
ARG ALMANAC_BUILD_DATE=unknown
ENV ALMANAC_GIT_COMMIT=${ALMANAC_GIT_COMMIT} ALMANAC_BUILD_DATE=${ALMANAC_BUILD_DATE}
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/almanac /out/almanac

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/almanac /usr/local/bin/almanac
# 65532 = "nonroot" in distroless; the generated CronJobs run as this user too.
USER 65532:65532
WORKDIR /var/lib/almanac
ENV ALMANAC_CONFIG=/var/lib/almanac/jobs.toml
ENTRYPOINT ["/usr/local/bin/almanac"]
CMD ["list"]
