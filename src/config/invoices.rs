//! `invoices`: the supplier registration GST tax invoices and credit notes are issued
//! under, their number series, SAC codes and the e-invoice switch.

use std::collections::BTreeMap;

use serde::Deserialize;
use uuid::Uuid;

use crate::domain::invoice::{DocumentKind, SacCodes, Series, is_service_sac};
use crate::domain::{Gstin, IndianState};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvoiceSettings {
    /// The supplier's GSTIN, printed on every document. Its state must be
    /// `pricing.supplier_state` (the state the prices were taxed for). The default is a
    /// sample Karnataka GSTIN for development: set the real one in production.
    pub supplier_gstin: String,
    /// The supplier's legal name as registered.
    pub supplier_name: String,
    /// The supplier's address, one entry per printed line.
    pub supplier_address: Vec<String>,
    /// Series prefix of this registration: 1-4 of A-Z, 0-9, '/', '-'. Numbers are
    /// `{prefix}/I{yy}{yy}/{seq}` (invoices) and `{prefix}/C{yy}{yy}/{seq}` (credit notes).
    pub series_prefix: String,
    /// SAC of a program without an override: 999293, commercial training and coaching.
    pub default_sac: String,
    /// SAC per program, keyed by program id (ids do not change when a program is
    /// renamed): `{"<uuid>" = "999294"}`. Six digits starting 99.
    pub sac: BTreeMap<String, String>,
    /// Printed on an export (zero-rated) invoice, e.g. naming the LUT it is under.
    pub export_note: String,
    /// Also produce the e-invoice JSON (IRN schema, INV-01) of B2B invoices; no network
    /// call is made.
    pub einvoice: bool,
    /// Delayed retries of a document job that failed (the database away) before it
    /// stops and leaves the order to `admin check` and an operator.
    pub max_attempts: u32,
    /// Crash tests only: hold an issuing transaction open this long (ms) after its
    /// documents are inserted, so a test can kill the worker while it holds a number.
    pub pause_before_commit_ms: u64,
}

impl Default for InvoiceSettings {
    fn default() -> Self {
        Self {
            supplier_gstin: "29AAKCT4821M1ZR".into(),
            supplier_name: "Internship Platform Private Limited".into(),
            supplier_address: vec!["12 MG Road".into(), "Bengaluru, Karnataka 560001".into()],
            series_prefix: "KA".into(),
            default_sac: "999293".into(),
            sac: BTreeMap::new(),
            export_note: "Export of services, zero-rated: supply meant for export under LUT \
                          without payment of integrated tax"
                .into(),
            einvoice: false,
            max_attempts: 10,
            pause_before_commit_ms: 0,
        }
    }
}

impl InvoiceSettings {
    /// The supplier's GSTIN (checked by [`InvoiceSettings::problems`]).
    pub fn gstin(&self) -> Result<Gstin, crate::domain::GstinError> {
        Gstin::parse(&self.supplier_gstin)
    }

    /// The series of `kind` (checked by [`InvoiceSettings::problems`]).
    pub fn series(
        &self,
        kind: DocumentKind,
    ) -> Result<Series, crate::domain::invoice::SerialError> {
        Series::new(&self.series_prefix, kind)
    }

    /// The SAC table (keys checked by [`InvoiceSettings::problems`]; a key that is not
    /// a program id is left out).
    pub fn sac_codes(&self) -> SacCodes {
        SacCodes {
            default: self.default_sac.clone(),
            by_program: self
                .sac
                .iter()
                .filter_map(|(k, v)| Some((Uuid::parse_str(k).ok()?, v.clone())))
                .collect(),
        }
    }

    /// What is wrong, one message per key; `supplier_state` is `pricing.supplier_state`.
    pub(super) fn problems(&self, supplier_state: Option<IndianState>) -> Vec<String> {
        let mut out = Vec::new();
        match self.gstin() {
            Err(e) => out.push(format!("invoices.supplier_gstin: {e}")),
            Ok(g) => {
                if let Some(state) = supplier_state
                    && g.state() != state
                {
                    out.push(format!(
                        "invoices.supplier_gstin: its state is {} ({}), but pricing.supplier_state \
                         is {} ({}): invoices must be issued by the registration prices were \
                         taxed for; set both to the same state",
                        g.state().name(),
                        g.state().gst_code(),
                        state.name(),
                        state.gst_code()
                    ));
                }
            }
        }
        if self.supplier_name.trim().is_empty() {
            out.push("invoices.supplier_name: must not be empty".into());
        }
        if self.supplier_address.iter().all(|l| l.trim().is_empty()) {
            out.push("invoices.supplier_address: give at least one line".into());
        }
        if let Err(e) = self.series(DocumentKind::Invoice) {
            out.push(format!("invoices.series_prefix: {e}"));
        }
        if !is_service_sac(&self.default_sac) {
            out.push("invoices.default_sac: must be 6 digits starting 99".into());
        }
        for (program, sac) in &self.sac {
            if Uuid::parse_str(program).is_err() {
                out.push(format!("invoices.sac: key `{program}` is not a program id"));
            }
            if !is_service_sac(sac) {
                out.push(format!(
                    "invoices.sac.{program}: `{sac}` must be 6 digits starting 99"
                ));
            }
        }
        if !(1..=100).contains(&self.max_attempts) {
            out.push("invoices.max_attempts: must be between 1 and 100".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ka() -> Option<IndianState> {
        IndianState::parse("KA").ok()
    }

    #[test]
    fn defaults_are_valid_for_the_default_supplier_state() {
        assert_eq!(
            InvoiceSettings::default().problems(ka()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_gstin_of_another_state_than_pricing_is_refused_with_both_named() {
        let problems = InvoiceSettings::default().problems(IndianState::parse("MH").ok());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("invoices.supplier_gstin"),
            "{problems:?}"
        );
        assert!(
            problems[0].contains("Karnataka") && problems[0].contains("Maharashtra"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_bad_key_is_named() {
        let s = InvoiceSettings {
            supplier_gstin: "29AAKCT4821M1ZQ".into(),
            supplier_name: " ".into(),
            supplier_address: vec![],
            series_prefix: "toolong".into(),
            default_sac: "123456".into(),
            sac: [
                ("web".to_owned(), "999293".to_owned()),
                (Uuid::nil().to_string(), "99929".to_owned()),
            ]
            .into(),
            max_attempts: 0,
            ..InvoiceSettings::default()
        };
        let problems = s.problems(ka()).join("; ");
        for key in [
            "invoices.supplier_gstin",
            "invoices.supplier_name",
            "invoices.supplier_address",
            "invoices.series_prefix",
            "invoices.default_sac",
            "invoices.sac: key `web`",
            "invoices.sac.00000000-0000-0000-0000-000000000000",
            "invoices.max_attempts",
        ] {
            assert!(problems.contains(key), "{key}: {problems}");
        }
    }

    #[test]
    fn sac_overrides_by_program_id() {
        let id = Uuid::from_u128(5);
        let s = InvoiceSettings {
            sac: [(id.to_string(), "999294".to_owned())].into(),
            ..InvoiceSettings::default()
        };
        let codes = s.sac_codes();
        assert_eq!(codes.of(id), "999294");
        assert_eq!(codes.of(Uuid::nil()), "999293");
    }
}
