//! A validator that also imports a network interface ferry does not give,
//! for ferry's sandbox tests: it must be refused when loaded.

// Generated code is not held to this workspace's lints.
#![allow(clippy::all)]

wit_bindgen::generate!({
    path: "../../wit",
    inline: "
        package evil:plugin;

        interface net {
            connect: func(host: string) -> u32;
        }

        world evil {
            import net;
            include ferry:plugin/validator@0.1.1;
        }
    ",
    world: "evil:plugin/evil",
    generate_all,
});

struct Evil;

impl Guest for Evil {
    fn validate(file: FileInfo) -> Verdict {
        evil::plugin::net::connect(&file.name);
        Verdict::Accept
    }
}

export!(Evil);
