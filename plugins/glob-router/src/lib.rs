//! Routes files by name patterns, from the partner parameter `routes`:
//!
//! ```toml
//! [tenants.acme.partners.alice.params]
//! routes = "*.csv -> bob, carol; invoice-*.pdf -> accounting:{stem}-from-alice.pdf"
//! ```
//!
//! Rules are separated by `;`. Each is `PATTERN -> TARGET[, TARGET...]`,
//! where a target is a partner, optionally followed by `:` and a new name
//! (`{name}`, `{stem}` and `{ext}` stand for parts of the original name).
//! Every matching rule adds its deliveries; a file no rule matches is held.
//! Patterns know `*` (any run of characters) and `?` (one character).
//!
//! The parameter `transforms` asks ferry to transform some copies on their
//! way, for this partner's files only: `bob: encrypt; carol: zip, encrypt`
//! (`zip`, `encrypt` to the target's key). A target the file is not
//! delivered to is skipped.

use ferry_plugin::types::{Delivery, FileInfo, Routing};

struct GlobRouter;

impl ferry_plugin::Router for GlobRouter {
    fn route(file: FileInfo) -> Routing {
        let Some(routes) = ferry_plugin::host::param("routes") else {
            return Routing::Hold("no `routes` parameter for this partner".to_owned());
        };
        match plan(&routes, &file.name) {
            Ok(deliveries) if deliveries.is_empty() => {
                Routing::Hold(format!("no route matches `{}`", file.name))
            }
            Ok(deliveries) => {
                let asked = ferry_plugin::host::param("transforms").unwrap_or_default();
                for (to, operation) in transforms(&asked) {
                    if deliveries.iter().any(|d| d.to == to) {
                        ferry_plugin::host::transform_delivery(to, operation);
                    }
                }
                Routing::Deliver(deliveries)
            }
            Err(e) => Routing::Hold(format!("the `routes` parameter is invalid: {e}")),
        }
    }
}

ferry_plugin::router!(GlobRouter);

/// The (target, operation) pairs of the `transforms` parameter.
pub fn transforms(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for item in text.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        // A malformed item names no target: ferry refuses the operation it
        // does not know, which quarantines the file with the reason.
        let (to, operations) = item.split_once(':').unwrap_or((item, ""));
        for operation in operations.split(',').map(str::trim) {
            out.push((to.trim(), operation));
        }
    }
    out
}

/// The deliveries `routes` gives for `name`.
pub fn plan(routes: &str, name: &str) -> Result<Vec<Delivery>, String> {
    let mut deliveries = Vec::new();
    for rule in routes.split(';').map(str::trim).filter(|r| !r.is_empty()) {
        let (pattern, targets) = rule
            .split_once("->")
            .ok_or_else(|| format!("`{rule}` has no `->`"))?;
        if !matches(pattern.trim(), name) {
            continue;
        }
        for target in targets.split(',').map(str::trim) {
            let (to, rename) = match target.split_once(':') {
                Some((to, template)) => (to.trim(), Some(template.trim())),
                None => (target, None),
            };
            if to.is_empty() {
                return Err(format!("`{rule}` has an empty target"));
            }
            let name = match rename {
                Some(template) => render(template, name),
                None => name.to_owned(),
            };
            deliveries.push(Delivery {
                to: to.to_owned(),
                name,
            });
        }
    }
    Ok(deliveries)
}

/// `*` and `?` glob matching over characters.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and how much of the name it has eaten.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn render(template: &str, name: &str) -> String {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, ext),
        _ => (name, ""),
    };
    template
        .replace("{name}", name)
        .replace("{stem}", stem)
        .replace("{ext}", ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_requests() {
        assert_eq!(
            transforms("bob: encrypt; carol: zip, encrypt ;"),
            [("bob", "encrypt"), ("carol", "zip"), ("carol", "encrypt")]
        );
        assert_eq!(transforms(""), []);
        assert_eq!(transforms("bob"), [("bob", "")]);
    }

    #[test]
    fn globs() {
        assert!(matches("*.csv", "a.csv"));
        assert!(matches("*", ""));
        assert!(matches("in?oice-*.pdf", "invoice-42.pdf"));
        assert!(!matches("*.csv", "a.csv.tmp"));
        assert!(matches("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn plans() {
        let routes = "*.csv -> bob, carol; invoice-*.pdf -> acct:{stem}-x.{ext}";
        let to = |name: &str| -> Vec<(String, String)> {
            plan(routes, name)
                .unwrap()
                .into_iter()
                .map(|d| (d.to, d.name))
                .collect()
        };
        assert_eq!(
            to("a.csv"),
            [
                ("bob".into(), "a.csv".into()),
                ("carol".into(), "a.csv".into())
            ]
        );
        assert_eq!(
            to("invoice-1.pdf"),
            [("acct".into(), "invoice-1-x.pdf".into())]
        );
        assert!(to("x.txt").is_empty());
        assert!(plan("nonsense", "a").is_err());
    }
}
