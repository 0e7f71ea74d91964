//! The wasmtime bindings of `wit/ferry-plugin.wit`. Private to `plugin`:
//! nothing generated here appears in another module's signatures.

pub mod validator {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "ferry:plugin/validator",
        imports: { default: trappable },
    });
}

pub mod router {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "ferry:plugin/router",
        imports: { default: trappable },
        with: { "ferry:plugin": super::validator::ferry::plugin },
    });
}

pub mod acknowledger {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "ferry:plugin/acknowledger",
        imports: { default: trappable },
        with: { "ferry:plugin": super::validator::ferry::plugin },
    });
}

pub use validator::ferry::plugin::{host, types};
