/* Rules builder: edits the JSON rules of a segment (textarea #id_rules) as AND/OR groups of conditions.
   No dependencies. The vocabulary (fields, operators, attributes, batches, and the condition types other apps
   register, like "engagement": segments/rules/extensions.py) comes from #rules-vocabulary. */
(function () {
  "use strict";
  const textarea = document.getElementById("id_rules");
  const mount = document.getElementById("rules-builder");
  const vocabEl = document.getElementById("rules-vocabulary");
  if (!textarea || !mount || !vocabEl) return;
  const V = JSON.parse(vocabEl.textContent);
  const NO_VALUE = new Set(["is_set", "is_not_set", "is_true", "is_false"]);
  const LIST_OPS = new Set(["in", "not_in"]);
  const EXTENSIONS = V.extensions || [];
  const extensionOf = (node) => EXTENSIONS.find((x) => x.key in node);

  let root;
  try { root = JSON.parse(textarea.value || "{}"); } catch (e) { root = {}; }
  if (!root || typeof root !== "object" || Array.isArray(root)) root = {};
  if (!root.conditions) root = { op: "and", conditions: root.field || root.attribute || root.event || root.batch || extensionOf(root) ? [root] : [] };

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach((c) => c && node.appendChild(c));
    return node;
  }
  function select(options, value, onchange, cls) {
    const s = el("select", { class: "form-select form-select-sm " + (cls || ""), onchange: (e) => onchange(e.target.value) });
    options.forEach(([v, label]) => {
      const o = el("option", { value: v, text: label });
      if (String(v) === String(value ?? "")) o.selected = true;
      s.appendChild(o);
    });
    return s;
  }
  function input(value, onchange, attrs) {
    return el("input", Object.assign({ class: "form-control form-control-sm", value: value ?? "", oninput: (e) => onchange(e.target.value) }, attrs || {}));
  }
  function save() {
    textarea.value = JSON.stringify(root, null, 2);
    textarea.dispatchEvent(new Event("change", { bubbles: true }));
  }
  function rerender() { mount.replaceChildren(renderGroup(root, null)); save(); }

  function kindOf(node) {
    if (node.conditions || node.op) return "group";
    if ("attribute" in node) return "attribute";
    if ("event" in node) return "event";
    if ("batch" in node) return "batch";
    const ext = extensionOf(node);
    return ext ? ext.key : "field";
  }
  function typeOf(node) {
    if ("attribute" in node) return node.type || "string";
    const name = String(node.field || "").replace("contact.", "");
    return V.fields[name] || "string";
  }
  function valueInputs(node) {
    const op = node.operator, type = typeOf(node);
    if (!op || NO_VALUE.has(op)) return [];
    const kindAttr = type === "numeric" ? { type: "number", step: "any" } : (type === "date" || type === "timestamp") && !op.includes("days") ? { type: "date" } : {};
    if (op === "between") {
      const pair = Array.isArray(node.value) ? node.value : ["", ""];
      return [
        input(pair[0], (v) => { pair[0] = v; node.value = pair; save(); }, Object.assign({ placeholder: "from" }, kindAttr)),
        input(pair[1], (v) => { pair[1] = v; node.value = pair; save(); }, Object.assign({ placeholder: "to" }, kindAttr)),
      ];
    }
    if (op.includes("days")) return [input(node.value, (v) => { node.value = v; save(); }, { type: "number", min: 0, placeholder: "days" })];
    if (type === "choice" && !LIST_OPS.has(op)) return [select([["", "—"]].concat(V.statuses), node.value, (v) => { node.value = v; save(); })];
    if (LIST_OPS.has(op)) {
      const text = Array.isArray(node.value) ? node.value.join(", ") : node.value || "";
      return [input(text, (v) => { node.value = v; save(); }, { placeholder: "a, b, c" })];
    }
    return [input(node.value, (v) => { node.value = v; save(); }, Object.assign({ placeholder: "value" }, kindAttr))];
  }
  // What kind of value an operator takes; a value of another kind means nothing to it.
  function valueShape(op) {
    if (!op || NO_VALUE.has(op)) return "none";
    if (op === "between") return "pair";
    if (op.includes("days")) return "days";
    return LIST_OPS.has(op) ? "list" : "single";
  }
  // A new field, attribute type or operator starts with an empty value: "subscribed" belongs to status, and
  // kept in the box of an email condition it would silently become "email = subscribed".
  function changeSubject(node, apply) {
    apply();
    delete node.value;
    const ops = V.operators[typeOf(node)] || [];
    if (!ops.includes(node.operator)) node.operator = ops[0];
    rerender();
  }
  function operatorSelect(node) {
    const ops = V.operators[typeOf(node)] || [];
    if (!ops.includes(node.operator)) node.operator = ops[0];
    return select(ops.map((o) => [o, V.labels[o] || o]), node.operator, (v) => {
      if (valueShape(v) !== valueShape(node.operator)) delete node.value;
      node.operator = v;
      rerender();
    });
  }

  function renderCondition(node, parent) {
    const kind = kindOf(node);
    const row = el("div", { class: "d-flex flex-wrap gap-2 align-items-center mb-2 rule-condition" });
    const kinds = [["field", "Contact field"], ["attribute", "Attribute"], ["event", "Funnel event"], ["batch", "Batch"]].concat(EXTENSIONS.map((x) => [x.key, x.label]));
    row.appendChild(select(kinds, kind, (v) => {
      Object.keys(node).forEach((k) => delete node[k]);
      if (v === "field") Object.assign(node, { field: "contact.status", operator: "eq", value: "subscribed" });
      if (v === "attribute") Object.assign(node, { attribute: "", type: "string", operator: "eq", value: "" });
      if (v === "event") Object.assign(node, { event: { to_stage: "", within_days: 30 } });
      if (v === "batch") Object.assign(node, { batch: V.batches.length ? V.batches[0][0] : "" });
      const ext = EXTENSIONS.find((x) => x.key === v);
      if (ext) node[ext.key] = Object.assign({}, ext.default);
      rerender();
    }, "w-auto"));
    if (kind === "field") {
      row.appendChild(select(Object.keys(V.fields).map((f) => [`contact.${f}`, f.replace("_", " ")]), node.field, (v) => changeSubject(node, () => { node.field = v; }), "w-auto"));
      row.appendChild(operatorSelect(node));
      valueInputs(node).forEach((i) => row.appendChild(i));
    } else if (kind === "attribute") {
      row.appendChild(input(node.attribute, (v) => {
        node.attribute = v;
        const known = V.attributes.find((a) => a[0] === v);
        if (known && known[1] !== node.type) changeSubject(node, () => { node.type = known[1]; }); else save();
      }, { list: "rules-attributes", placeholder: "attribute name", style: "max-width: 12rem" }));
      row.appendChild(select(V.attribute_types.map((t) => [t, t]), node.type, (v) => changeSubject(node, () => { node.type = v; }), "w-auto"));
      row.appendChild(operatorSelect(node));
      valueInputs(node).forEach((i) => row.appendChild(i));
    } else if (kind === "event") {
      const ev = node.event || (node.event = {});
      row.appendChild(el("span", { class: "small", text: "moved to stage" }));
      row.appendChild(input(ev.to_stage, (v) => { ev.to_stage = v; save(); }, { placeholder: "to stage", style: "max-width: 10rem" }));
      row.appendChild(el("span", { class: "small", text: "from" }));
      row.appendChild(input(ev.from_stage, (v) => { ev.from_stage = v; save(); }, { placeholder: "any stage", style: "max-width: 10rem" }));
      row.appendChild(select([["", "any funnel"]].concat(V.funnel_types), ev.funnel_type, (v) => { ev.funnel_type = v; save(); }, "w-auto"));
      row.appendChild(el("span", { class: "small", text: "within the last" }));
      row.appendChild(input(ev.within_days, (v) => { ev.within_days = v; save(); }, { type: "number", min: 0, placeholder: "any", style: "max-width: 6rem" }));
      row.appendChild(el("span", { class: "small", text: "days" }));
    } else if (kind === "batch") {
      row.appendChild(el("span", { class: "small", text: "is a member of" }));
      row.appendChild(select([["", "—"]].concat(V.batches), node.batch, (v) => { node.batch = v; save(); }, "w-auto"));
    } else {
      extensionInputs(node, extensionOf(node)).forEach((i) => row.appendChild(i));
    }
    row.appendChild(negateBox(node));
    row.appendChild(removeButton(node, parent));
    return row;
  }
  // A registered condition type draws its fields from the vocabulary: a select per "choice", a number per "days"
  // (shown only for the choices it applies to, when the type says so).
  function extensionInputs(node, ext) {
    const spec = node[ext.key] && typeof node[ext.key] === "object" ? node[ext.key] : (node[ext.key] = Object.assign({}, ext.default));
    const out = [];
    ext.fields.forEach((f) => {
      if (f.when_field && f.when_values.length && !f.when_values.includes(spec[f.when_field])) return;
      if (f.label) out.push(el("span", { class: "small", text: f.label }));
      if (f.kind === "choice") out.push(select(f.choices, spec[f.name], (v) => { spec[f.name] = v; rerender(); }, "w-auto"));
      else out.push(input(spec[f.name], (v) => { spec[f.name] = v; save(); }, { type: "number", min: 0, placeholder: f.placeholder, style: "max-width: 6rem" }));
      if (f.suffix) out.push(el("span", { class: "small", text: f.suffix }));
    });
    return out;
  }
  function negateBox(node) {
    const box = el("input", { type: "checkbox", class: "form-check-input", onchange: (e) => { if (e.target.checked) node.negate = true; else delete node.negate; save(); } });
    box.checked = !!node.negate;
    return el("label", { class: "form-check-label small ms-1" }, [box, document.createTextNode(" NOT")]);
  }
  function removeButton(node, parent) {
    if (!parent) return null;
    return el("button", { type: "button", class: "btn btn-sm btn-outline-danger", text: "×", title: "Remove", onclick: () => {
      parent.conditions.splice(parent.conditions.indexOf(node), 1); rerender();
    } });
  }
  function renderGroup(group, parent) {
    group.op = group.op || "and";
    group.conditions = group.conditions || [];
    const box = el("div", { class: "border rounded p-2 mb-2 rule-group" + (parent ? " ms-3 bg-light" : "") });
    const head = el("div", { class: "d-flex gap-2 align-items-center mb-2" }, [
      el("span", { class: "small fw-semibold", text: "Match" }),
      select([["and", "ALL of (AND)"], ["or", "ANY of (OR)"]], group.op, (v) => { group.op = v; save(); }, "w-auto"),
      parent ? negateBox(group) : null,
      el("button", { type: "button", class: "btn btn-sm btn-outline-primary", text: "+ condition", onclick: () => {
        group.conditions.push({ field: "contact.status", operator: "eq", value: "subscribed" }); rerender();
      } }),
      el("button", { type: "button", class: "btn btn-sm btn-outline-secondary", text: "+ group", onclick: () => {
        group.conditions.push({ op: "or", conditions: [] }); rerender();
      } }),
      removeButton(group, parent),
    ]);
    box.appendChild(head);
    if (!group.conditions.length) box.appendChild(el("div", { class: "small text-muted", text: parent ? "Empty group: add a condition." : "No conditions: every contact matches." }));
    group.conditions.forEach((child) => box.appendChild(kindOf(child) === "group" ? renderGroup(child, group) : renderCondition(child, group)));
    return box;
  }

  const list = el("datalist", { id: "rules-attributes" });
  V.attributes.forEach(([name, type]) => list.appendChild(el("option", { value: name, label: type })));
  document.body.appendChild(list);
  textarea.closest(".mb-3, div")?.classList.add("d-none");
  const toggle = document.getElementById("rules-json-toggle");
  if (toggle) toggle.addEventListener("click", () => textarea.closest(".mb-3, div")?.classList.toggle("d-none"));
  textarea.addEventListener("input", () => {
    try { root = JSON.parse(textarea.value); mount.replaceChildren(renderGroup(root, null)); } catch (e) { /* keep typing */ }
  });
  rerender();
})();
