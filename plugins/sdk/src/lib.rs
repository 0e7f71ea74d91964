//! Write ferry plugins in a few lines of Rust.
//!
//! ```text
//! use ferry_plugin::types::{FileInfo, Verdict};
//!
//! struct OnlyCsv;
//!
//! impl ferry_plugin::Validator for OnlyCsv {
//!     fn validate(file: FileInfo) -> Verdict {
//!         if file.name.ends_with(".csv") {
//!             Verdict::Accept
//!         } else {
//!             Verdict::Reject(vec![format!("{} is not a .csv file", file.name)])
//!         }
//!     }
//! }
//!
//! ferry_plugin::validator!(OnlyCsv);
//! ```
//!
//! Build with `cargo build --release` in a crate whose `.cargo/config.toml`
//! sets `target = "wasm32-wasip2"`; the `.wasm` file is the plugin.
//!
//! The role macros (`validator!`, `router!`, `acknowledger!`) generate the
//! role's bindings in the calling crate from the WIT files at `../../wit`
//! (the layout of ferry's `plugins/` workspace); pass another path as a
//! second argument when the WIT files are elsewhere.

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "ferry:plugin/imports@0.1.1",
    });
}

pub use bindings::ferry::plugin::host as raw_host;
pub use bindings::ferry::plugin::types;

use types::{AckAction, AckEvent, FileInfo, HistoryEntry, HistoryQuery, Level, Routing, Verdict};

/// A validator: judges a file a partner sent.
pub trait Validator {
    fn validate(file: FileInfo) -> Verdict;
}

/// A router: says where an accepted file goes.
pub trait Router {
    fn route(file: FileInfo) -> Routing;
}

/// An acknowledger: says how an event about a file is confirmed.
pub trait Acknowledger {
    fn acknowledge(file: FileInfo, event: AckEvent) -> Vec<AckAction>;
}

/// The host's services, with friendlier signatures.
pub mod host {
    use super::*;

    /// The largest read the host answers in one call.
    pub const MAX_READ: u32 = 1 << 20;

    /// Up to `len` bytes of the file under decision from `offset`.
    pub fn read(offset: u64, len: u32) -> Vec<u8> {
        raw_host::read(offset, len)
    }

    /// The whole file under decision, read in 1 MiB pieces. Memory is capped
    /// by the host, so use this only for files known to be small (check
    /// `file.size` first) and `chunks` otherwise.
    pub fn read_all() -> Vec<u8> {
        let mut all = Vec::new();
        for chunk in chunks() {
            all.extend_from_slice(&chunk);
        }
        all
    }

    /// The file under decision as consecutive pieces of at most 1 MiB.
    pub fn chunks() -> impl Iterator<Item = Vec<u8>> {
        let mut offset = 0u64;
        std::iter::from_fn(move || {
            let chunk = raw_host::read(offset, MAX_READ);
            if chunk.is_empty() {
                return None;
            }
            offset += chunk.len() as u64;
            Some(chunk)
        })
    }

    /// The partner's past messages, newest first.
    pub fn history(query: HistoryQuery) -> Vec<HistoryEntry> {
        raw_host::history(query)
    }

    /// Asks that the copy for partner `to` be transformed on delivery:
    /// `"zip"` or `"encrypt"` (see the WIT). A router's requests only.
    pub fn transform_delivery(to: &str, operation: &str) {
        raw_host::transform_delivery(to, operation)
    }

    /// A parameter of this partner from the configuration.
    pub fn param(name: &str) -> Option<String> {
        raw_host::param(name)
    }

    pub fn log(level: Level, message: &str) {
        raw_host::log(level, message)
    }

    pub fn info(message: &str) {
        raw_host::log(Level::Info, message)
    }

    pub fn warn(message: &str) {
        raw_host::log(Level::Warn, message)
    }

    pub fn kv_get(key: &str) -> Option<Vec<u8>> {
        raw_host::kv_get(key)
    }

    pub fn kv_set(key: &str, value: &[u8]) {
        raw_host::kv_set(key, value)
    }

    pub fn kv_delete(key: &str) {
        raw_host::kv_delete(key)
    }
}

/// Exports `$ty` (a [`Validator`]) as this component's `validate`.
#[macro_export]
macro_rules! validator {
    ($ty:ty) => {
        $crate::validator!($ty, "../../wit");
    };
    ($ty:ty, $wit:literal) => {
        $crate::__role!($ty, $wit, "ferry:plugin/validator@0.1.1", {
            fn validate(file: $crate::types::FileInfo) -> $crate::types::Verdict {
                <$ty as $crate::Validator>::validate(file)
            }
        });
    };
}

/// Exports `$ty` (a [`Router`]) as this component's `route`.
#[macro_export]
macro_rules! router {
    ($ty:ty) => {
        $crate::router!($ty, "../../wit");
    };
    ($ty:ty, $wit:literal) => {
        $crate::__role!($ty, $wit, "ferry:plugin/router@0.1.1", {
            fn route(file: $crate::types::FileInfo) -> $crate::types::Routing {
                <$ty as $crate::Router>::route(file)
            }
        });
    };
}

/// Exports `$ty` (an [`Acknowledger`]) as this component's `acknowledge`.
#[macro_export]
macro_rules! acknowledger {
    ($ty:ty) => {
        $crate::acknowledger!($ty, "../../wit");
    };
    ($ty:ty, $wit:literal) => {
        $crate::__role!($ty, $wit, "ferry:plugin/acknowledger@0.1.1", {
            fn acknowledge(
                file: $crate::types::FileInfo,
                event: $crate::types::AckEvent,
            ) -> ::std::vec::Vec<$crate::types::AckAction> {
                <$ty as $crate::Acknowledger>::acknowledge(file, event)
            }
        });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __role {
    ($ty:ty, $wit:literal, $world:literal, { $($body:tt)* }) => {
        #[allow(clippy::all)]
        mod __ferry_plugin_bindings {
            // The plugin's type is named in the parent module.
            #[allow(unused_imports)]
            use super::*;

            $crate::__wit_bindgen::generate!({
                path: $wit,
                world: $world,
                runtime_path: "ferry_plugin::__wit_bindgen::rt",
                with: {
                    "ferry:plugin/types@0.1.1": ferry_plugin::types,
                    "ferry:plugin/host@0.1.1": ferry_plugin::raw_host,
                },
            });

            pub struct __Export;

            impl Guest for __Export {
                $($body)*
            }

            export!(__Export);
        }
    };
}
