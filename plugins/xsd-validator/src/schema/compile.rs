//! From the schema's tree to [`Schema`]: top-level definitions are found
//! first, then compiled on first use, so that a definition may refer to
//! one further down and types may be recursive through their elements.

use std::collections::{HashMap, HashSet};

use super::dom::{self, Name, Node, XS};
use super::*;
use crate::builtin::Builtin;
use crate::simple::SimpleType;

pub fn compile(text: &str) -> Result<Schema, String> {
    let nodes = dom::read(text)?;
    let root = &nodes[0];
    if !root.is("schema") {
        return Err(format!(
            "line {}: the root element is not xs:schema (in the namespace {XS})",
            root.line
        ));
    }
    let mut ctx = Ctx::new(&nodes)?;
    // Everything top-level is compiled, used or not, so that a mistake in
    // the schema shows when it is configured rather than with the first
    // document that happens to need the definition.
    for &id in &root.children {
        let node = &nodes[id];
        let name = node.attr("name").unwrap_or_default();
        if node.is("element") {
            let id = ctx.global_element(&ctx.target_name(name), node.line)?;
            ctx.schema.globals.push(id);
        } else if node.is("complexType") || node.is("simpleType") {
            ctx.type_id(&ctx.target_name(name), node.line)?;
        } else if node.is("attribute") {
            ctx.attribute(id, true)?;
        }
    }
    if ctx.schema.globals.is_empty() {
        return Err("the schema declares no top-level element, so no document can be valid".into());
    }
    Ok(ctx.schema)
}

struct Ctx<'a> {
    nodes: &'a [Node],
    target: Option<String>,
    elements_qualified: bool,
    attributes_qualified: bool,
    /// Top-level definitions by kind and local name: their node.
    defs: HashMap<(&'static str, &'a str), usize>,
    schema: Schema,
    type_ids: HashMap<Name, TypeId>,
    element_ids: HashMap<Name, ElemId>,
    builtin_ids: HashMap<Builtin, TypeId>,
    /// Types being compiled, to refuse a type derived from itself.
    deriving: HashSet<TypeId>,
    /// Groups being expanded, to refuse a group that contains itself.
    expanding: Vec<usize>,
}

fn err<T>(node: &Node, message: impl std::fmt::Display) -> Result<T, String> {
    Err(format!("line {}: {message}", node.line))
}

fn occurs(node: &Node) -> Result<(u32, Option<u32>), String> {
    let number = |name: &str, default: u32| -> Result<u32, String> {
        match node.attr(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().or_else(|_| {
                err(
                    node,
                    format!("{name}=\"{v}\" is not a non-negative integer"),
                )
            }),
        }
    };
    let min = number("minOccurs", 1)?;
    let max = match node.attr("maxOccurs").map(str::trim) {
        Some("unbounded") => None,
        _ => Some(number("maxOccurs", 1)?),
    };
    if max.is_some_and(|max| max < min) {
        return err(
            node,
            format!(
                "minOccurs {min} is more than maxOccurs {}",
                max.unwrap_or(0)
            ),
        );
    }
    Ok((min, max))
}

impl<'a> Ctx<'a> {
    fn new(nodes: &'a [Node]) -> Result<Ctx<'a>, String> {
        let root = &nodes[0];
        let mut defs = HashMap::new();
        for &id in &root.children {
            let node = &nodes[id];
            let Some(kind) = node.xs.as_deref() else {
                continue;
            };
            let kind: &'static str = match kind {
                "element" => "element",
                "attribute" => "attribute",
                "group" => "group",
                "attributeGroup" => "attributeGroup",
                "complexType" | "simpleType" => "type",
                "annotation" | "notation" => continue,
                "import" | "include" | "redefine" | "override" => {
                    return err(
                        node,
                        format!(
                            "xs:{kind} is not supported: the schema must be one self-contained document"
                        ),
                    );
                }
                other => {
                    return err(
                        node,
                        format!("xs:{other} is not supported at the top level"),
                    );
                }
            };
            let Some(name) = node.attr("name") else {
                return err(
                    node,
                    format!(
                        "a top-level xs:{} has no name",
                        node.xs.as_deref().unwrap_or_default()
                    ),
                );
            };
            if defs.insert((kind, name), id).is_some() {
                return err(node, format!("'{name}' is defined twice"));
            }
        }
        let form = |attr: &str| root.attr(attr).map(str::trim) == Some("qualified");
        let mut schema = Schema {
            target: root.attr("targetNamespace").map(str::to_string),
            elements: Vec::new(),
            types: Vec::new(),
            globals: Vec::new(),
            ignored: Vec::new(),
        };
        schema.types.push(Type::Complex(any_type()));
        Ok(Ctx {
            nodes,
            target: schema.target.clone(),
            elements_qualified: form("elementFormDefault"),
            attributes_qualified: form("attributeFormDefault"),
            defs,
            schema,
            type_ids: HashMap::new(),
            element_ids: HashMap::new(),
            builtin_ids: HashMap::new(),
            deriving: HashSet::new(),
            expanding: Vec::new(),
        })
    }

    fn target_name(&self, local: &str) -> Name {
        Name {
            ns: self.target.clone(),
            local: local.to_string(),
        }
    }

    /// The node of a top-level definition that `name` refers to.
    fn def(&self, kind: &'static str, name: &Name, line: usize) -> Result<usize, String> {
        let what = if kind == "type" { "type" } else { kind };
        if name.ns != self.target {
            let ns = name.ns.as_deref().unwrap_or("no namespace");
            return Err(format!(
                "line {line}: the {what} '{}' is in {ns}, not in this schema's namespace (imports are not supported)",
                name.local
            ));
        }
        self.defs
            .get(&(kind, name.local.as_str()))
            .copied()
            .ok_or_else(|| format!("line {line}: the schema defines no {what} '{}'", name.local))
    }

    fn push_type(&mut self, ty: Type) -> TypeId {
        self.schema.types.push(ty);
        self.schema.types.len() - 1
    }

    /// The type a `type` or `base` attribute names, compiled if needed.
    fn type_id(&mut self, name: &Name, line: usize) -> Result<TypeId, String> {
        if name.ns.as_deref() == Some(XS) {
            if name.local == "anyType" {
                return Ok(ANY_TYPE);
            }
            let builtin = Builtin::from_name(&name.local)
                .ok_or_else(|| format!("line {line}: xs:{} is not a built-in type", name.local))?;
            if let Some(&id) = self.builtin_ids.get(&builtin) {
                return Ok(id);
            }
            let id = self.push_type(Type::Simple(SimpleType::builtin(builtin)));
            self.builtin_ids.insert(builtin, id);
            return Ok(id);
        }
        if let Some(&id) = self.type_ids.get(name) {
            return Ok(id);
        }
        let node_id = self.def("type", name, line)?;
        // A placeholder, so that the type's own elements can refer to it.
        let id = self.push_type(Type::Complex(any_type()));
        self.type_ids.insert(name.clone(), id);
        self.deriving.insert(id);
        let compiled = if self.nodes[node_id].is("simpleType") {
            self.simple_type(node_id, &name.local).map(Type::Simple)
        } else {
            self.complex_type(node_id, &name.local).map(Type::Complex)
        };
        self.deriving.remove(&id);
        self.schema.types[id] = compiled?;
        Ok(id)
    }

    /// A named type's definition, for deriving another from it.
    fn base(&mut self, name: &Name, line: usize) -> Result<&Type, String> {
        let id = self.type_id(name, line)?;
        if self.deriving.contains(&id) {
            return Err(format!(
                "line {line}: the type '{}' is derived from itself",
                name.local
            ));
        }
        Ok(&self.schema.types[id])
    }

    fn simple_by_name(&mut self, name: &Name, line: usize) -> Result<SimpleType, String> {
        match self.base(name, line)? {
            Type::Simple(simple) => Ok(simple.clone()),
            Type::Complex(_) => Err(format!(
                "line {line}: '{}' is a complex type, where a simple type is needed",
                name.display()
            )),
        }
    }

    fn children(&self, node_id: usize) -> impl Iterator<Item = (usize, &'a Node)> + 'a {
        let nodes = self.nodes;
        nodes[node_id]
            .children
            .iter()
            .map(move |&id| (id, &nodes[id]))
            .filter(|(_, n)| n.xs.is_some() && !n.is("annotation"))
    }

    fn global_element(&mut self, name: &Name, line: usize) -> Result<ElemId, String> {
        if let Some(&id) = self.element_ids.get(name) {
            return Ok(id);
        }
        let node_id = self.def("element", name, line)?;
        self.element(node_id, true)
    }

    fn element(&mut self, node_id: usize, top: bool) -> Result<ElemId, String> {
        let node = &self.nodes[node_id];
        if let Some(reference) = node.qname("ref") {
            return self.global_element(&reference.clone(), node.line);
        }
        let Some(local) = node.attr("name") else {
            return err(node, "an xs:element has neither a name nor a ref");
        };
        if node.attr("substitutionGroup").is_some() {
            return err(node, "substitution groups are not supported");
        }
        if node.attr("abstract").map(str::trim) == Some("true") {
            return err(
                node,
                "abstract elements are not supported (they need substitution groups)",
            );
        }
        let qualified = match node.attr("form").map(str::trim) {
            Some(form) => form == "qualified",
            None => self.elements_qualified,
        };
        let name = Name {
            ns: if top || qualified {
                self.target.clone()
            } else {
                None
            },
            local: local.to_string(),
        };
        let id = self.schema.elements.len();
        self.schema.elements.push(ElementDecl {
            name: name.clone(),
            ty: ANY_TYPE,
            nillable: node.attr("nillable").map(str::trim) == Some("true"),
            fixed: node.attr("fixed").map(str::to_string),
            default: node.attr("default").map(str::to_string),
        });
        if top {
            self.element_ids.insert(name, id);
        }
        let mut ty = match node.qname("type") {
            Some(t) => Some(self.type_id(&t.clone(), node.line)?),
            None => None,
        };
        for (child_id, child) in self.children(node_id) {
            let inline = match child.xs.as_deref() {
                Some("complexType") => Type::Complex(self.complex_type(child_id, local)?),
                Some("simpleType") => Type::Simple(self.simple_type(child_id, local)?),
                Some(c @ ("unique" | "key" | "keyref")) => {
                    self.schema.ignored.push(format!(
                        "line {}: the identity constraint xs:{c} is not enforced",
                        child.line
                    ));
                    continue;
                }
                Some(other) => {
                    return err(child, format!("xs:{other} is not allowed in xs:element"));
                }
                None => continue,
            };
            if ty.is_some() {
                return err(
                    child,
                    format!("the element '{local}' has both a type attribute and an inline type"),
                );
            }
            ty = Some(self.push_type(inline));
        }
        self.schema.elements[id].ty = ty.unwrap_or(ANY_TYPE);
        let decl = &self.schema.elements[id];
        let simple = match &self.schema.types[decl.ty] {
            Type::Simple(simple) => Some(simple),
            Type::Complex(ComplexType {
                content: Content::Simple(simple),
                ..
            }) => Some(simple),
            Type::Complex(_) => None,
        };
        for value in decl.fixed.iter().chain(&decl.default) {
            if let Some(simple) = simple {
                simple.check(value).or_else(|e| {
                    err(
                        node,
                        format!("the fixed or default value of '{local}': {e}"),
                    )
                })?;
            }
        }
        Ok(id)
    }

    fn particle(&mut self, node_id: usize) -> Result<Option<Particle>, String> {
        let node = &self.nodes[node_id];
        let (min, max) = occurs(node)?;
        let term = match node.xs.as_deref().unwrap_or_default() {
            "element" => Term::Element(self.element(node_id, false)?),
            "any" => Term::Any(self.wildcard(node)),
            kind @ ("sequence" | "choice" | "all") => {
                let mut items = Vec::new();
                for (child_id, child) in self.children(node_id) {
                    let allowed = match kind {
                        "all" => child.is("element"),
                        _ => ["element", "group", "choice", "sequence", "any"]
                            .iter()
                            .any(|k| child.is(k)),
                    };
                    if !allowed {
                        return err(
                            child,
                            format!(
                                "xs:{} is not allowed in xs:{kind}",
                                child.xs.as_deref().unwrap_or_default()
                            ),
                        );
                    }
                    items.extend(self.particle(child_id)?);
                }
                match kind {
                    "sequence" => Term::Sequence(items),
                    "choice" => Term::Choice(items),
                    _ => Term::All(items),
                }
            }
            "group" => {
                let Some(reference) = node.qname("ref").cloned() else {
                    return err(node, "a local xs:group has no ref");
                };
                let group = self.def("group", &reference, node.line)?;
                if self.expanding.contains(&group) {
                    return err(
                        node,
                        format!("the group '{}' contains itself", reference.local),
                    );
                }
                self.expanding.push(group);
                let model = self.children(group).next().map(|(id, _)| id);
                let inner = match model {
                    Some(model) => self.particle(model),
                    None => err(&self.nodes[group], "the group has no content model"),
                };
                self.expanding.pop();
                match inner? {
                    Some(inner) => inner.term,
                    None => return Ok(None),
                }
            }
            other => {
                return err(
                    node,
                    format!("xs:{other} is not supported in a content model"),
                );
            }
        };
        Ok((max != Some(0)).then(|| Particle::new(min, max, term)))
    }

    fn wildcard(&self, node: &Node) -> Wildcard {
        let namespaces = match node.attr("namespace").map(str::trim).unwrap_or("##any") {
            "##any" => Namespaces::Any,
            "##other" => Namespaces::Other(self.target.clone()),
            list => Namespaces::List(
                list.split_whitespace()
                    .map(|t| match t {
                        "##targetNamespace" => self.target.clone(),
                        "##local" => None,
                        uri => Some(uri.to_string()),
                    })
                    .collect(),
            ),
        };
        let process = match node.attr("processContents").map(str::trim) {
            Some("lax") => Process::Lax,
            Some("skip") => Process::Skip,
            _ => Process::Strict,
        };
        Wildcard {
            namespaces,
            process,
        }
    }

    fn complex_type(&mut self, node_id: usize, name: &str) -> Result<ComplexType, String> {
        let node = &self.nodes[node_id];
        if node.attr("abstract").map(str::trim) == Some("true") {
            self.schema.ignored.push(format!(
                "line {}: the type '{name}' is abstract, which is not enforced",
                node.line
            ));
        }
        let mut ty = ComplexType {
            name: name.to_string(),
            content: Content::Empty,
            mixed: node.attr("mixed").map(str::trim) == Some("true"),
            attributes: Vec::new(),
            any_attribute: None,
        };
        for (child_id, child) in self.children(node_id) {
            match child.xs.as_deref().unwrap_or_default() {
                "sequence" | "choice" | "all" | "group" => {
                    if let Some(p) = self.particle(child_id)? {
                        ty.content = Content::Elements(p);
                    }
                }
                "attribute" | "attributeGroup" | "anyAttribute" => {
                    self.attribute_use(child_id, &mut ty)?
                }
                "simpleContent" => self.simple_content(child_id, &mut ty)?,
                "complexContent" => self.complex_content(child_id, &mut ty)?,
                other => {
                    return err(
                        child,
                        format!("xs:{other} is not supported in xs:complexType"),
                    );
                }
            }
        }
        Ok(ty)
    }

    /// Adds an attribute, an attribute group's attributes or a wildcard to
    /// a type; a later declaration of a name replaces an earlier one (a
    /// derived type's overrides its base's), and `use="prohibited"`
    /// removes it.
    fn attribute_use(&mut self, node_id: usize, ty: &mut ComplexType) -> Result<(), String> {
        let node = &self.nodes[node_id];
        match node.xs.as_deref().unwrap_or_default() {
            "anyAttribute" => ty.any_attribute = Some(self.wildcard(node)),
            "attributeGroup" => {
                let Some(reference) = node.qname("ref").cloned() else {
                    return err(node, "a local xs:attributeGroup has no ref");
                };
                let group = self.def("attributeGroup", &reference, node.line)?;
                if self.expanding.contains(&group) {
                    return err(
                        node,
                        format!("the attribute group '{}' contains itself", reference.local),
                    );
                }
                self.expanding.push(group);
                let members: Vec<usize> = self.children(group).map(|(id, _)| id).collect();
                let result = members
                    .into_iter()
                    .try_for_each(|id| self.attribute_use(id, ty));
                self.expanding.pop();
                result?;
            }
            _ => {
                let prohibited = node.attr("use").map(str::trim) == Some("prohibited");
                let decl = self.attribute(node_id, false)?;
                ty.attributes.retain(|a| a.name != decl.name);
                if !prohibited {
                    ty.attributes.push(decl);
                }
            }
        }
        Ok(())
    }

    fn attribute(&mut self, node_id: usize, top: bool) -> Result<AttributeDecl, String> {
        let node = &self.nodes[node_id];
        let required = node.attr("use").map(str::trim) == Some("required");
        let fixed = node.attr("fixed").map(str::to_string);
        if let Some(reference) = node.qname("ref").cloned() {
            let global = self.def("attribute", &reference, node.line)?;
            let mut decl = self.attribute(global, true)?;
            decl.required = required;
            decl.fixed = fixed.or(decl.fixed);
            return Ok(decl);
        }
        let Some(local) = node.attr("name") else {
            return err(node, "an xs:attribute has neither a name nor a ref");
        };
        let qualified = match node.attr("form").map(str::trim) {
            Some(form) => form == "qualified",
            None => self.attributes_qualified,
        };
        let mut ty = match node.qname("type") {
            Some(t) => Some(self.simple_by_name(&t.clone(), node.line)?),
            None => None,
        };
        for (child_id, child) in self.children(node_id) {
            if !child.is("simpleType") || ty.is_some() {
                return err(
                    child,
                    format!(
                        "unexpected xs:{} in the attribute '{local}'",
                        child.xs.as_deref().unwrap_or_default()
                    ),
                );
            }
            ty = Some(self.simple_type(child_id, local)?);
        }
        let ty = ty.unwrap_or_else(|| SimpleType::builtin(Builtin::AnySimpleType));
        if let Some(value) = &fixed {
            ty.check(value)
                .or_else(|e| err(node, format!("the fixed value of '{local}': {e}")))?;
        }
        Ok(AttributeDecl {
            name: Name {
                ns: if top || qualified {
                    self.target.clone()
                } else {
                    None
                },
                local: local.to_string(),
            },
            ty,
            required,
            fixed,
        })
    }

    fn simple_type(&mut self, node_id: usize, name: &str) -> Result<SimpleType, String> {
        let Some((child_id, child)) = self.children(node_id).next() else {
            return err(
                &self.nodes[node_id],
                format!("the simple type '{name}' has no restriction, list or union"),
            );
        };
        match child.xs.as_deref().unwrap_or_default() {
            "restriction" => {
                let base = self.restriction_base(child_id)?;
                let facets = self.facets(child_id);
                base.restrict(name.to_string(), &facets)
                    .or_else(|e| err(child, e))
            }
            "list" => {
                let item = match child.qname("itemType") {
                    Some(t) => self.simple_by_name(&t.clone(), child.line)?,
                    None => match self.children(child_id).find(|(_, n)| n.is("simpleType")) {
                        Some((inline, _)) => self.simple_type(inline, name)?,
                        None => return err(child, "xs:list has no item type"),
                    },
                };
                Ok(SimpleType::list(name.to_string(), item))
            }
            "union" => {
                let mut members = Vec::new();
                for member in child.qnames("memberTypes") {
                    members.push(self.simple_by_name(member, child.line)?);
                }
                let inline: Vec<usize> = self
                    .children(child_id)
                    .filter(|(_, n)| n.is("simpleType"))
                    .map(|(id, _)| id)
                    .collect();
                for id in inline {
                    members.push(self.simple_type(id, name)?);
                }
                Ok(SimpleType::union(name.to_string(), members))
            }
            other => err(
                child,
                format!("xs:{other} is not supported in xs:simpleType"),
            ),
        }
    }

    /// The base of a simple type's restriction: the `base` attribute or an
    /// inline xs:simpleType.
    fn restriction_base(&mut self, node_id: usize) -> Result<SimpleType, String> {
        let node = &self.nodes[node_id];
        if let Some(base) = node.qname("base") {
            return self.simple_by_name(&base.clone(), node.line);
        }
        match self.children(node_id).find(|(_, n)| n.is("simpleType")) {
            Some((inline, _)) => self.simple_type(inline, "the anonymous base"),
            None => err(node, "xs:restriction has no base"),
        }
    }

    /// A restriction's facets, as (facet, value) in schema order.
    fn facets(&self, node_id: usize) -> Vec<(String, String)> {
        self.children(node_id)
            .filter(|(_, n)| {
                !n.is("simpleType")
                    && !n.is("attribute")
                    && !n.is("attributeGroup")
                    && !n.is("anyAttribute")
            })
            .map(|(_, n)| {
                (
                    n.xs.clone().unwrap_or_default(),
                    n.attr("value").unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    fn derivation(&self, node_id: usize) -> Result<(usize, &'a Node, Name), String> {
        let Some((id, child)) = self.children(node_id).next() else {
            return err(
                &self.nodes[node_id],
                "it has no xs:extension or xs:restriction",
            );
        };
        if !child.is("extension") && !child.is("restriction") {
            return err(
                child,
                format!(
                    "xs:{} is not supported here",
                    child.xs.as_deref().unwrap_or_default()
                ),
            );
        }
        let Some(base) = child.qname("base") else {
            return err(child, "it has no base");
        };
        Ok((id, child, base.clone()))
    }

    fn simple_content(&mut self, node_id: usize, ty: &mut ComplexType) -> Result<(), String> {
        let (derivation_id, derivation, base) = self.derivation(node_id)?;
        let simple = match self.base(&base, derivation.line)?.clone() {
            Type::Simple(simple) if derivation.is("extension") => simple,
            Type::Complex(complex) => {
                let Content::Simple(simple) = complex.content else {
                    return err(
                        derivation,
                        format!("the base '{}' has no simple content", base.display()),
                    );
                };
                ty.attributes = complex.attributes;
                ty.any_attribute = complex.any_attribute;
                simple
            }
            Type::Simple(_) => {
                return err(
                    derivation,
                    "a simpleContent restriction needs a complex base type",
                );
            }
        };
        let simple = if derivation.is("restriction") {
            let facets = self.facets(derivation_id);
            simple
                .restrict(ty.name.clone(), &facets)
                .or_else(|e| err(derivation, e))?
        } else {
            simple
        };
        ty.content = Content::Simple(simple);
        let members: Vec<usize> = self
            .children(derivation_id)
            .filter(|(_, n)| n.xs.as_deref().is_some_and(|x| x.contains("ttribute")))
            .map(|(id, _)| id)
            .collect();
        for id in members {
            self.attribute_use(id, ty)?;
        }
        Ok(())
    }

    fn complex_content(&mut self, node_id: usize, ty: &mut ComplexType) -> Result<(), String> {
        if self.nodes[node_id].attr("mixed").map(str::trim) == Some("true") {
            ty.mixed = true;
        }
        let (derivation_id, derivation, base) = self.derivation(node_id)?;
        let base_type = match self.base(&base, derivation.line)? {
            Type::Complex(complex) => complex.clone(),
            Type::Simple(_) => {
                return err(
                    derivation,
                    format!(
                        "'{}' is a simple type: use xs:simpleContent",
                        base.display()
                    ),
                );
            }
        };
        let is_any = base.ns.as_deref() == Some(XS) && base.local == "anyType";
        if !is_any {
            ty.attributes = base_type.attributes;
            ty.any_attribute = base_type.any_attribute;
        }
        let mut own = None;
        for (child_id, child) in self.children(derivation_id) {
            match child.xs.as_deref().unwrap_or_default() {
                "sequence" | "choice" | "all" | "group" => own = self.particle(child_id)?,
                "attribute" | "attributeGroup" | "anyAttribute" => {
                    self.attribute_use(child_id, ty)?
                }
                other => {
                    return err(
                        child,
                        format!("xs:{other} is not supported in a derivation"),
                    );
                }
            }
        }
        ty.content =
            match (
                derivation.is("extension") && !is_any,
                base_type.content,
                own,
            ) {
                (true, Content::Simple(_), _) => {
                    return err(
                        derivation,
                        format!(
                            "'{}' has simple content: use xs:simpleContent",
                            base.display()
                        ),
                    );
                }
                (true, Content::Elements(inherited), Some(own)) => Content::Elements(
                    Particle::new(1, Some(1), Term::Sequence(vec![inherited, own])),
                ),
                (true, Content::Elements(inherited), None) => Content::Elements(inherited),
                (_, _, Some(own)) => Content::Elements(own),
                (_, _, None) => Content::Empty,
            };
        Ok(())
    }
}

/// xs:anyType: any attributes, any content, checked against the
/// schema's declarations where it has one.
fn any_type() -> ComplexType {
    let lax = Wildcard {
        namespaces: Namespaces::Any,
        process: Process::Lax,
    };
    ComplexType {
        name: "xs:anyType".into(),
        content: Content::Elements(Particle::new(0, None, Term::Any(lax.clone()))),
        mixed: true,
        attributes: Vec::new(),
        any_attribute: Some(lax),
    }
}
