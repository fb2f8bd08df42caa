//! `cors`: the browser origins allowed to call the API.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Exact origins (`https://shop.example.com`) browsers may call the API from. Empty
    /// -> no CORS headers (same-origin only). `*` is refused.
    pub allowed_origins: Vec<String>,
}

impl CorsSettings {
    pub(super) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for o in &self.allowed_origins {
            let ok = (o.starts_with("https://") || o.starts_with("http://"))
                && !o.contains('*')
                && !o.ends_with('/')
                && o.split("://")
                    .nth(1)
                    .is_some_and(|h| !h.is_empty() && !h.contains('/'));
            if !ok {
                out.push(format!(
                    "cors.allowed_origins: `{o}` must be scheme://host[:port], no path, no wildcard"
                ));
            }
        }
        out
    }
}
