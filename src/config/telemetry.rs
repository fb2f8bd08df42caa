//! `telemetry`: the OpenTelemetry trace exporter. Off unless a collector is named here
//! or by the standard `OTEL_*` variables, which win over these keys.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// Base URL of an OTLP/HTTP collector (`http://collector:4318`); spans go to
    /// `<it>/v1/traces`. None: no exporter (unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
    pub otlp_endpoint: Option<String>,
    /// Share of new traces sampled, 0.0 to 1.0; a trace continued from a caller follows
    /// the caller's decision (parent-based).
    pub sampling_ratio: f64,
    /// `service.name` of the exported spans; None: `checkout-<role>`.
    pub service_name: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sampling_ratio: 1.0,
            service_name: None,
        }
    }
}

/// How new traces are sampled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Every new trace with this probability; a child follows its parent's decision.
    ParentRatio(f64),
    /// Ratio regardless of the parent (`OTEL_TRACES_SAMPLER=traceidratio`).
    Ratio(f64),
}

/// The exporter as settings and environment decide it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceExport {
    /// Full URL spans are POSTed to.
    pub traces_url: String,
    pub sampling: Sampling,
    pub service_name: String,
}

impl TelemetrySettings {
    /// The exporter to run for `role`, or None when traces are not exported. `env` reads
    /// a variable (the process environment outside tests). Precedence, per the OTLP
    /// exporter spec: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), then
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, then `telemetry.otlp_endpoint` (both + `/v1/traces`);
    /// `OTEL_TRACES_SAMPLER(_ARG)` over `telemetry.sampling_ratio`; `OTEL_SERVICE_NAME`
    /// over `telemetry.service_name`. `OTEL_SDK_DISABLED=true` turns it all off.
    pub fn export(&self, role: &str, env: impl Fn(&str) -> Option<String>) -> Option<TraceExport> {
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let traces_url = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .or_else(|| self.otlp_endpoint.clone().filter(|e| !e.trim().is_empty()))
                .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        })?;
        let arg = var("OTEL_TRACES_SAMPLER_ARG")
            .and_then(|a| a.parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r));
        let ratio = self.sampling_ratio;
        let sampling = match var("OTEL_TRACES_SAMPLER").as_deref() {
            Some("always_on") => Sampling::Ratio(1.0),
            Some("always_off") => Sampling::Ratio(0.0),
            Some("traceidratio") => Sampling::Ratio(arg.unwrap_or(1.0)),
            Some("parentbased_always_on") => Sampling::ParentRatio(1.0),
            Some("parentbased_always_off") => Sampling::ParentRatio(0.0),
            Some("parentbased_traceidratio") => Sampling::ParentRatio(arg.unwrap_or(1.0)),
            _ => Sampling::ParentRatio(ratio),
        };
        let service_name = var("OTEL_SERVICE_NAME")
            .or_else(|| self.service_name.clone())
            .unwrap_or_else(|| format!("checkout-{role}"));
        Some(TraceExport {
            traces_url,
            sampling,
            service_name,
        })
    }

    pub(super) fn problems(&self, check: &mut impl FnMut(bool, &str, &str)) {
        check(
            (0.0..=1.0).contains(&self.sampling_ratio),
            "telemetry.sampling_ratio",
            "must be between 0.0 and 1.0",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn export(settings: &TelemetrySettings, vars: &[(&str, &str)]) -> Option<TraceExport> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        settings.export("worker", |k| env.get(k).cloned())
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        let settings = TelemetrySettings::default();
        assert_eq!(export(&settings, &[]), None);
        let on = TelemetrySettings {
            otlp_endpoint: Some("http://c:4318".into()),
            ..Default::default()
        };
        assert_eq!(export(&on, &[("OTEL_SDK_DISABLED", "true")]), None);
        assert!(export(&on, &[("OTEL_SDK_DISABLED", "false")]).is_some());
    }

    #[test]
    fn otel_variables_win_over_the_settings() {
        let settings = TelemetrySettings {
            otlp_endpoint: Some("http://file:4318/".into()),
            sampling_ratio: 0.25,
            service_name: Some("from-file".into()),
        };
        let from_file = export(&settings, &[]).unwrap_or_else(|| panic!("exporter expected"));
        assert_eq!(from_file.traces_url, "http://file:4318/v1/traces");
        assert_eq!(from_file.sampling, Sampling::ParentRatio(0.25));
        assert_eq!(from_file.service_name, "from-file");

        let generic = export(
            &settings,
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")],
        );
        assert_eq!(
            generic.map(|e| e.traces_url).as_deref(),
            Some("http://env:4318/v1/traces")
        );
        let specific = export(
            &settings,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://spans:9/custom",
                ),
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
                ("OTEL_SERVICE_NAME", "svc"),
            ],
        )
        .unwrap_or_else(|| panic!("exporter expected"));
        assert_eq!(specific.traces_url, "http://spans:9/custom");
        assert_eq!(specific.sampling, Sampling::Ratio(0.5));
        assert_eq!(specific.service_name, "svc");
    }

    #[test]
    fn the_service_is_named_after_the_role_by_default() {
        let e = export(
            &TelemetrySettings::default(),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "not a number"),
            ],
        )
        .unwrap_or_else(|| panic!("exporter expected"));
        assert_eq!(e.service_name, "checkout-worker");
        assert_eq!(e.sampling, Sampling::ParentRatio(1.0));
    }
}
