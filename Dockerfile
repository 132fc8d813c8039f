# Builds the dbapi binary (or, with --build-arg PKG=./examples/bank, the bank
# example) into a small image with no shell.
FROM golang:1.26 AS build
ARG PKG=./cmd/dbapi
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/dbapi $PKG

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dbapi /dbapi
ENTRYPOINT ["/dbapi"]
CMD ["serve"]
