# Builds the dbapi binary (or, with --build-arg PKG=./examples/bank, the bank
# example) into a small image with no shell.
FROM golang:1.26 AS build
ARG PKG=./cmd/dbapi
# The version it reports: docker build --build-arg VERSION=$(git describe --tags --always --dirty)
ARG VERSION=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/dbapi-dev/dbapi/service.version=${VERSION}" -o /out/dbapi $PKG

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dbapi /dbapi
# /healthz, /readyz and /metrics; `dbapi healthcheck` probes /readyz (the
# image has no shell or curl).
ENV DBAPI_HTTP_ADDR=:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s CMD ["/dbapi", "healthcheck"]
ENTRYPOINT ["/dbapi"]
CMD ["serve"]
