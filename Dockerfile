# Builds the dbapi binary into a small image with no shell.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/dbapi ./cmd/dbapi

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dbapi /dbapi
ENTRYPOINT ["/dbapi"]
CMD ["serve"]
