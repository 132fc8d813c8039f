package tracing

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Enabled reports whether the OTEL_* variables ask for traces: tracing is
// off unless OTEL_TRACES_EXPORTER names an exporter other than "none" or
// an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and OTEL_SDK_DISABLED is not true.
func Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch e := os.Getenv("OTEL_TRACES_EXPORTER"); e {
	case "":
		return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return e != "none"
	}
}

// FromEnv returns a tracer provider configured by the standard OTEL_*
// variables (exporter and protocol through the SDK's autoexport, sampler
// and batching through the SDK itself, OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES), or nil when Enabled is false. The service's
// name and version are the defaults of its resource. Shut the provider
// down to send the last spans.
func FromEnv(ctx context.Context, service, version string) (*sdktrace.TracerProvider, error) {
	if !Enabled() {
		return nil, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry exporter (OTEL_*): %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", service), attribute.String("service.version", version)),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
