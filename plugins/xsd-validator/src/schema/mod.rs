//! An XSD compiled into what validation needs: element declarations,
//! types and content models, with every reference resolved.
//!
//! Whatever this validator cannot enforce makes compiling fail with the
//! construct named, rather than being skipped: a schema that compiles is
//! checked in full. The exceptions, which cannot make a valid document
//! invalid or the reverse in the cases they are used for, are listed in
//! [`Schema::ignored`].

mod compile;
pub mod dom;

pub use dom::Name;

use crate::simple::SimpleType;

pub type TypeId = usize;
pub type ElemId = usize;

/// The type of an element declared without one: anything goes.
pub const ANY_TYPE: TypeId = 0;

#[derive(Debug)]
pub struct Schema {
    pub target: Option<String>,
    pub elements: Vec<ElementDecl>,
    pub types: Vec<Type>,
    /// The top-level element declarations, the only ones a document's
    /// root element (or a wildcard's match) can have.
    pub globals: Vec<ElemId>,
    /// Constructs read but not enforced, for the log.
    pub ignored: Vec<String>,
}

#[derive(Debug)]
pub struct ElementDecl {
    pub name: Name,
    pub ty: TypeId,
    pub nillable: bool,
    /// The value the content must have.
    pub fixed: Option<String>,
    /// The value empty content stands for.
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Type {
    Simple(SimpleType),
    Complex(ComplexType),
}

#[derive(Debug, Clone)]
pub struct ComplexType {
    /// The name messages show (the schema's, or the element's for an
    /// anonymous type).
    pub name: String,
    pub content: Content,
    pub mixed: bool,
    pub attributes: Vec<AttributeDecl>,
    pub any_attribute: Option<Wildcard>,
}

#[derive(Debug, Clone)]
pub enum Content {
    /// No child elements; text only when `mixed`.
    Empty,
    /// Text of a simple type, no child elements.
    Simple(SimpleType),
    Elements(Particle),
}

#[derive(Debug, Clone)]
pub struct AttributeDecl {
    pub name: Name,
    pub ty: SimpleType,
    pub required: bool,
    pub fixed: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Particle {
    pub min: u32,
    /// `None`: unbounded.
    pub max: Option<u32>,
    pub term: Term,
    /// Whether the particle can match no element at all.
    pub nullable: bool,
}

#[derive(Debug, Clone)]
pub enum Term {
    Element(ElemId),
    Any(Wildcard),
    Sequence(Vec<Particle>),
    Choice(Vec<Particle>),
    All(Vec<Particle>),
}

#[derive(Debug, Clone)]
pub struct Wildcard {
    pub namespaces: Namespaces,
    pub process: Process,
}

#[derive(Debug, Clone)]
pub enum Namespaces {
    Any,
    /// `##other`: a namespace, but not this one (the target namespace).
    Other(Option<String>),
    /// The listed namespaces; `None` stands for no namespace.
    List(Vec<Option<String>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Strict,
    Lax,
    Skip,
}

impl Wildcard {
    pub fn allows(&self, ns: Option<&str>) -> bool {
        match &self.namespaces {
            Namespaces::Any => true,
            Namespaces::Other(target) => ns.is_some() && ns != target.as_deref(),
            Namespaces::List(list) => list.iter().any(|n| n.as_deref() == ns),
        }
    }
}

impl Particle {
    pub fn new(min: u32, max: Option<u32>, term: Term) -> Particle {
        let term_nullable = match &term {
            Term::Element(_) | Term::Any(_) => false,
            Term::Sequence(items) | Term::All(items) => items.iter().all(|p| p.nullable),
            Term::Choice(items) => items.iter().any(|p| p.nullable),
        };
        Particle {
            min,
            max,
            term,
            nullable: min == 0 || term_nullable,
        }
    }

    /// Whether the particle may match more than one element of a name.
    pub fn repeats(&self) -> bool {
        self.max != Some(1)
    }
}

impl Schema {
    /// Compiles the text of an XSD; the error says what is wrong, with its
    /// line in the schema.
    pub fn compile(text: &str) -> Result<Schema, String> {
        compile::compile(text)
    }

    /// The top-level element declaration of a name.
    pub fn global(&self, ns: Option<&str>, local: &str) -> Option<ElemId> {
        self.globals.iter().copied().find(|&id| {
            self.elements[id].name.local == local && self.elements[id].name.ns.as_deref() == ns
        })
    }

    pub fn element(&self, id: ElemId) -> &ElementDecl {
        &self.elements[id]
    }
}

#[cfg(test)]
mod tests;
