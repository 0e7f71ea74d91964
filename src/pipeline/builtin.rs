//! The built-in steps, used where a partner has no plugin.

use super::{AckAction, Acknowledger, Context, Decided, Router, StepError, Validator};
use crate::journal::{AckEvent, Delivery, Routing, Verdict};

/// Accepts every file.
pub struct AcceptAll;

impl Validator for AcceptAll {
    fn validate(&self, _: &Context<'_>) -> Result<Decided<Verdict>, StepError> {
        Ok(Decided::builtin("accept-all", Verdict::Accept))
    }
}

/// Routes by the sending partner's `routes` table: every matching row is a delivery.
pub struct RouteTable;

impl Router for RouteTable {
    fn route(&self, cx: &Context<'_>) -> Result<Decided<Routing>, StepError> {
        Ok(Decided::builtin("route-table", route_table(cx)))
    }
}

fn route_table(cx: &Context<'_>) -> Routing {
    let name = &cx.message.name;
    let Some(partner) = cx.partner() else {
        return Routing::Hold {
            reason: format!("partner `{}` is not configured", cx.message.partner),
        };
    };
    let deliveries: Vec<Delivery> = partner
        .routes
        .iter()
        .filter(|route| route.pattern.is_match(name))
        .map(|route| Delivery {
            to: route.to.clone(),
            name: route.target_name(name),
            transforms: Vec::new(),
        })
        .collect();
    if deliveries.is_empty() {
        return Routing::Hold {
            reason: format!("no route of partner `{}` matches `{name}`", partner.name),
        };
    }
    Routing::Deliver(deliveries)
}

/// Writes `NAME.received` when a file is delivered and `NAME.rejected`
/// (with the reasons) when it is rejected, into the sender's outbox, for
/// partners with `receipts = true`.
pub struct ReceiptFiles;

impl Acknowledger for ReceiptFiles {
    fn acknowledge(
        &self,
        cx: &Context<'_>,
        event: &AckEvent,
    ) -> Result<Decided<Vec<AckAction>>, StepError> {
        Ok(Decided::builtin("receipt-files", receipts(cx, event)))
    }
}

fn receipts(cx: &Context<'_>, event: &AckEvent) -> Vec<AckAction> {
    if !cx.partner().is_some_and(|p| p.receipts) {
        return Vec::new();
    }
    let message = cx.message;
    let hash = message.hash.map(|h| h.to_string()).unwrap_or_default();
    let (suffix, body) = match event {
        AckEvent::Delivered => (
            "received",
            format!(
                "name: {}\nsize: {}\nsha256: {}\nreceived-at: {}\nmessage: {}\n",
                message.name, message.size, hash, message.created_at, message.id
            ),
        ),
        AckEvent::Rejected { reasons } => {
            let mut body = format!(
                "name: {}\nsize: {}\nsha256: {}\nmessage: {}\n",
                message.name, message.size, hash, message.id
            );
            for reason in reasons {
                body.push_str(&format!("reason: {}\n", reason.replace(['\r', '\n'], " ")));
            }
            ("rejected", body)
        }
        AckEvent::Downloaded { .. } | AckEvent::Failed { .. } => return Vec::new(),
    };
    vec![AckAction::WriteFile {
        partner: message.partner.clone(),
        name: format!("{}.{suffix}", message.name),
        content: body.into_bytes(),
    }]
}
