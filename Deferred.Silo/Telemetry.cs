using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Deferred.Silo;

/// <summary>
/// OpenTelemetry for the sample silo, off unless configured: <c>Telemetry:OtlpEndpoint</c> (for example
/// <c>http://localhost:4317</c>, or the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>) exports Deferred's meter and
/// activity source (both named <c>Deferred</c>) and Orleans' own over OTLP.
/// </summary>
internal static class Telemetry
{
    public static void AddIfConfigured(HostApplicationBuilder builder)
    {
        var endpoint = builder.Configuration["Telemetry:OtlpEndpoint"] ?? builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return;
        }

        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            throw new ArgumentException($"Telemetry:OtlpEndpoint '{endpoint}' is not an absolute URI, e.g. http://localhost:4317.");
        }

        void Otlp(OtlpExporterOptions o) => o.Endpoint = uri;
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Configuration["Telemetry:ServiceName"] ?? "deferred-silo"))
            .WithMetrics(m => m.AddMeter("Deferred", "Microsoft.Orleans").AddOtlpExporter(Otlp))
            .WithTracing(t => t.AddSource("Deferred", "Microsoft.AspNetCore").AddOtlpExporter(Otlp));
    }
}
