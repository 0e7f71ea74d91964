//! Plugins as pipeline steps: the adapters between a [`Slot`] and the
//! pipeline's `Validator`, `Router` and `Acknowledger` traits.

use std::sync::Arc;

use super::services::JournalServices;
use super::{FileMeta, Limits, Outcome, Plugin, PluginEngine, PluginError, Role, Slot};
use crate::journal::{AckEvent, KvWrite, Provenance, Routing, Verdict};
use crate::pipeline::{AckAction, Acknowledger, Context, Decided, Router, StepError, Validator};

/// One role of one partner, served by whatever version its slot holds.
pub struct PluginStep {
    slot: Arc<Slot>,
    engine: Arc<PluginEngine>,
    limits: Limits,
    charge: CpuCharge,
}

/// Where a step's plugin CPU time goes: its tenant's `plugin_cpu` share.
pub type CpuCharge = Arc<dyn Fn(std::time::Duration) + Send + Sync>;

impl PluginStep {
    /// A step served by the plugin in `slot`, whose CPU time is charged to
    /// `charge` after each call (so that the pipeline need not know how a
    /// plugin's time is measured).
    pub fn new(
        slot: Arc<Slot>,
        engine: Arc<PluginEngine>,
        limits: Limits,
        charge: CpuCharge,
    ) -> PluginStep {
        PluginStep {
            slot,
            engine,
            limits,
            charge,
        }
    }

    /// The version to call, and the services it gets, for this message.
    fn prepare(&self, cx: &Context<'_>) -> Result<(Arc<Plugin>, Box<JournalServices>), StepError> {
        let plugin = self.slot.current().map_err(StepError)?;
        let params = cx
            .partner()
            .map(|p| Arc::clone(&p.params))
            .unwrap_or_default();
        let services = JournalServices::new(
            Arc::clone(cx.journal),
            cx.store.clone(),
            cx.message.hash,
            &cx.message.tenant,
            &cx.message.partner,
            params,
        );
        Ok((plugin, Box::new(services)))
    }

    fn fail(&self, plugin: &Plugin, error: PluginError) -> StepError {
        StepError(format!(
            "{} plugin {}: {error}",
            self.slot.key.role,
            &plugin.sha256[..12]
        ))
    }
}

fn provenance<T>(plugin: &Plugin, outcome: &mut Outcome<T>, partner: &str) -> Provenance {
    Provenance {
        by: format!("plugin:{}", plugin.sha256),
        logs: outcome
            .logs
            .drain(..)
            .map(|l| format!("{}: {}", l.level, l.message))
            .collect(),
        kv: outcome
            .kv
            .drain(..)
            .map(|(key, value)| KvWrite {
                partner: partner.to_owned(),
                key,
                value,
            })
            .collect(),
    }
}

impl PluginStep {
    /// Calls the version in service on the message and records who decided.
    fn decide<T>(
        &self,
        cx: &Context<'_>,
        call: impl FnOnce(&Plugin, Box<JournalServices>, &FileMeta) -> Result<Outcome<T>, PluginError>,
    ) -> Result<Decided<T>, StepError> {
        let (plugin, services) = self.prepare(cx)?;
        let began = std::time::Instant::now();
        let outcome = call(&plugin, services, &FileMeta::of(cx.message));
        (self.charge)(super::engine::take_calls_cpu());
        crate::metrics::metrics().plugin_call(
            &cx.message.tenant,
            self.slot.key.role.as_str(),
            began.elapsed().as_secs_f64(),
            outcome.is_err(),
        );
        let mut outcome = outcome.map_err(|e| self.fail(&plugin, e))?;
        let by = provenance(&plugin, &mut outcome, &cx.message.partner);
        Ok(Decided {
            value: outcome.value,
            by,
        })
    }
}

impl Validator for PluginStep {
    fn validate(&self, cx: &Context<'_>) -> Result<Decided<Verdict>, StepError> {
        debug_assert_eq!(self.slot.key.role, Role::Validator);
        self.decide(cx, |plugin, services, file| {
            plugin.validate(&self.engine, services, self.limits, file)
        })
    }
}

impl Router for PluginStep {
    fn route(&self, cx: &Context<'_>) -> Result<Decided<Routing>, StepError> {
        let mut requested = Vec::new();
        let mut decided = self.decide(cx, |plugin, services, file| {
            let mut outcome = plugin.route(&self.engine, services, self.limits, file)?;
            requested = std::mem::take(&mut outcome.transforms);
            Ok(outcome)
        })?;
        attach_transforms(&mut decided.value, requested)?;
        Ok(decided)
    }
}

/// Puts the transforms a router asked for (`transform-delivery`) on the
/// deliveries of its decision. A request that matches no delivery, or
/// names an operation ferry does not know, makes the decision fail: the
/// file is quarantined with the reason rather than delivered otherwise
/// than the plugin meant.
fn attach_transforms(
    routing: &mut Routing,
    requested: Vec<(String, String)>,
) -> Result<(), StepError> {
    let Routing::Deliver(deliveries) = routing else {
        return Ok(());
    };
    for (to, operation) in requested {
        if !crate::pipeline::TRANSFORMS.contains(&operation.as_str()) {
            return Err(StepError(format!(
                "the router asked for transform `{operation}` of the copy for `{to}`; \
                 expected one of {:?}",
                crate::pipeline::TRANSFORMS
            )));
        }
        let mut matched = false;
        for delivery in deliveries.iter_mut().filter(|d| d.to == to) {
            matched = true;
            if !delivery.transforms.contains(&operation) {
                delivery.transforms.push(operation.clone());
            }
        }
        if !matched {
            return Err(StepError(format!(
                "the router asked to transform the copy for `{to}` ({operation}), \
                 which its decision does not deliver to"
            )));
        }
    }
    Ok(())
}

impl Acknowledger for PluginStep {
    fn acknowledge(
        &self,
        cx: &Context<'_>,
        event: &AckEvent,
    ) -> Result<Decided<Vec<AckAction>>, StepError> {
        self.decide(cx, |plugin, services, file| {
            plugin.acknowledge(&self.engine, services, self.limits, file, event)
        })
    }
}
