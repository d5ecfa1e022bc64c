#!/usr/bin/env node
// Generates src/generated/*.ts from the schema documents in docs/schema (AsyncAPI 3 for the
// WebSocket API, OpenAPI 3.1 for the HTTP API; both hold JSON Schema as pydantic emits it).
//
//   node scripts/gen-types.mjs           write src/generated/{asyncapi,openapi}.ts
//   node scripts/gen-types.mjs --check   exit 1 when a committed file differs from the output
//
// Plain Node, no dependencies: the subset of JSON Schema pydantic produces ($ref, $defs,
// anyOf/oneOf/allOf, const, enum, type lists, properties/required, additionalProperties,
// items/prefixItems) maps directly onto TypeScript types.

import { readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const PACKAGE = resolve(HERE, "..");
const SCHEMA_DIR = resolve(PACKAGE, "../../docs/schema");
const OUT_DIR = join(PACKAGE, "src/generated");

/** The documents and the module each one becomes. */
export const SOURCES = [
  { document: "asyncapi.json", module: "asyncapi.ts" },
  { document: "openapi.json", module: "openapi.ts" },
];

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** A TypeScript type name for a schema name (`Page_Message_` -> `PageMessage`). */
export function typeName(name) {
  const words = String(name).split(/[^A-Za-z0-9]+/).filter(Boolean);
  const joined = words.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  return /^[0-9]/.test(joined) ? `T${joined}` : joined || "Unnamed";
}

function propertyKey(key) {
  return IDENTIFIER.test(key) ? key : JSON.stringify(key);
}

function literal(value) {
  return value === null ? "null" : JSON.stringify(value);
}

function refName(ref) {
  const match = /^#\/(?:components\/schemas|\$defs|definitions)\/(.+)$/.exec(ref);
  if (!match) throw new Error(`unsupported $ref ${ref}`);
  return typeName(decodeURIComponent(match[1].replace(/~1/g, "/").replace(/~0/g, "~")));
}

function comment(schema, indent) {
  const text = schema && typeof schema === "object" ? schema.description : undefined;
  if (typeof text !== "string" || !text.trim()) return "";
  const lines = text.trim().replace(/\*\//g, "*\\/").split("\n");
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} *${l ? ` ${l}` : ""}`).join("\n")}\n${indent} */\n`;
}

function union(parts) {
  const unique = [...new Set(parts)];
  if (unique.includes("unknown")) return "unknown";
  return unique.length === 0 ? "never" : unique.join(" | ");
}

/** `type` in parentheses when it has a `|` or `&` outside any brackets. */
function wrap(type) {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < type.length; i++) {
    const ch = type[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if ("({[<".includes(ch)) depth++;
    else if (")}]>".includes(ch)) depth--;
    else if (depth === 0 && (ch === "|" || ch === "&")) return `(${type})`;
  }
  return type;
}

/** The TypeScript type of one JSON Schema, at nesting `depth` (for indentation). */
export function schemaType(schema, depth = 0) {
  if (schema === true || schema === undefined) return "unknown";
  if (schema === false) return "never";
  if (typeof schema !== "object" || schema === null) throw new Error(`bad schema ${JSON.stringify(schema)}`);
  if (schema.$ref) return refName(schema.$ref);
  if ("const" in schema) return literal(schema.const);
  if (Array.isArray(schema.enum)) return union(schema.enum.map(literal));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives)) {
    const choice = union(alternatives.map((s) => schemaType(s, depth)));
    // Own properties beside the alternatives apply to each of them (`{...} & ({to} | {conversationId})`).
    if (!schema.properties && !schema.type) return choice;
    const { anyOf: _a, oneOf: _o, ...base } = schema;
    return `${wrap(schemaType(base, depth))} & ${wrap(choice)}`;
  }
  if (Array.isArray(schema.allOf)) {
    const parts = [...new Set(schema.allOf.map((s) => wrap(schemaType(s, depth))))];
    return parts.length === 1 ? parts[0] : parts.join(" & ");
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length === 0) {
    if (schema.properties || schema.additionalProperties !== undefined) return objectType(schema, depth);
    if (schema.items || schema.prefixItems) return arrayType(schema, depth);
    return "unknown";
  }
  return union(
    types.map((type) => {
      switch (type) {
        case "string":
          return "string";
        case "integer":
        case "number":
          return "number";
        case "boolean":
          return "boolean";
        case "null":
          return "null";
        case "array":
          return arrayType(schema, depth);
        case "object":
          return objectType(schema, depth);
        default:
          throw new Error(`unsupported type ${type}`);
      }
    }),
  );
}

function arrayType(schema, depth) {
  if (Array.isArray(schema.prefixItems)) {
    const items = schema.prefixItems.map((s) => schemaType(s, depth));
    const rest = schema.items === false || schema.items === undefined ? [] : [`...${wrap(schemaType(schema.items, depth))}[]`];
    return `[${[...items, ...rest].join(", ")}]`;
  }
  return `${wrap(schemaType(schema.items, depth))}[]`;
}

function objectType(schema, depth) {
  const properties = schema.properties ?? {};
  const keys = Object.keys(properties);
  const extra = schema.additionalProperties;
  if (keys.length === 0) {
    if (extra === false) return "Record<string, never>";
    const value = extra === undefined || extra === true ? "unknown" : schemaType(extra, depth);
    return schema.propertyNames?.$ref
      ? `Partial<Record<${refName(schema.propertyNames.$ref)}, ${value}>>`
      : `Record<string, ${value}>`;
  }
  const required = new Set(schema.required ?? []);
  const indent = "  ".repeat(depth + 1);
  const lines = keys.map((key) => {
    const prop = properties[key];
    const optional = required.has(key) ? "" : "?";
    return `${comment(prop, indent)}${indent}${propertyKey(key)}${optional}: ${schemaType(prop, depth + 1)};`;
  });
  if (extra && extra !== false) {
    const value = extra === true ? "unknown" : schemaType(extra, depth + 1);
    lines.push(`${indent}[key: string]: ${value === "unknown" ? "unknown" : `${value} | undefined`};`);
  }
  return `{\n${lines.join("\n")}\n${"  ".repeat(depth)}}`;
}

/** Every named schema of a document: components.schemas, plus $defs nested anywhere. */
export function namedSchemas(doc) {
  const named = new Map();
  const visit = (schema) => {
    if (!schema || typeof schema !== "object") return;
    for (const key of ["$defs", "definitions"]) {
      for (const [name, def] of Object.entries(schema[key] ?? {})) {
        if (!named.has(name)) named.set(name, def);
        visit(def);
      }
    }
    for (const value of Object.values(schema)) if (value && typeof value === "object") visit(value);
  };
  for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
    named.set(name, schema);
    visit(schema);
  }
  for (const [key, value] of Object.entries(doc)) if (key !== "components") visit(value);
  for (const message of Object.values(doc.components?.messages ?? {})) visit(message);
  return named;
}

function declaration(name, schema) {
  const ts = typeName(name);
  const names = schema["x-enum-varnames"] ?? schema["x-enumNames"];
  if (Array.isArray(schema.enum) && Array.isArray(names) && names.length === schema.enum.length) {
    const notes = schema["x-enum-descriptions"] ?? [];
    const entries = names.map(
      (n, i) => `${comment({ description: notes[i] }, "  ")}  ${propertyKey(String(n))}: ${literal(schema.enum[i])},`,
    );
    return (
      `${comment(schema, "")}export const ${ts} = {\n${entries.join("\n")}\n} as const;\n` +
      `export type ${ts} = (typeof ${ts})[keyof typeof ${ts}];\n`
    );
  }
  const type = schemaType(schema, 0);
  const isInterface = type.startsWith("{\n") && !schema.anyOf && !schema.oneOf && !schema.allOf;
  return isInterface
    ? `${comment(schema, "")}export interface ${ts} ${type}\n`
    : `${comment(schema, "")}export type ${ts} = ${type};\n`;
}

function jsonContent(node) {
  const content = node?.content ?? {};
  const key = Object.keys(content).find((k) => k === "application/json" || k.endsWith("+json"));
  return key ? content[key].schema : undefined;
}

/** `{"METHOD /path": {body, response}}` of an OpenAPI document, as an interface. */
function routes(doc) {
  const lines = [];
  for (const path of Object.keys(doc.paths ?? {}).sort()) {
    const item = doc.paths[path];
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!op) continue;
      const body = jsonContent(op.requestBody);
      const success = Object.keys(op.responses ?? {})
        .filter((code) => /^2\d\d$/.test(code))
        .sort()[0];
      const response = success === undefined ? undefined : jsonContent(op.responses[success]);
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].filter((p) => p.in === "query");
      const query = params.length
        ? schemaType({ type: "object", properties: Object.fromEntries(params.map((p) => [p.name, { ...p.schema, description: p.description }])), required: params.filter((p) => p.required).map((p) => p.name) }, 2)
        : "undefined";
      const fields = [
        `query: ${query};`,
        `body: ${body ? schemaType(body, 2) : "undefined"};`,
        `response: ${response ? schemaType(response, 2) : "void"};`,
        `status: ${success ?? "number"};`,
      ];
      const summary = op.summary ?? op.description;
      lines.push(
        `${comment({ description: summary }, "  ")}  ${JSON.stringify(`${method.toUpperCase()} ${path}`)}: {\n` +
          fields.map((f) => `    ${f}`).join("\n") +
          "\n  };",
      );
    }
  }
  return `/** Every route: its JSON body, its success response and status. */\nexport interface Routes {\n${lines.join("\n")}\n}\n`;
}

function resolvePointer(doc, ref) {
  const match = /^#\/(.+)$/.exec(ref);
  if (!match) throw new Error(`unsupported $ref ${ref}`);
  let node = doc;
  for (const part of match[1].split("/")) node = node?.[decodeURIComponent(part.replace(/~1/g, "/").replace(/~0/g, "~"))];
  if (!node) throw new Error(`dangling $ref ${ref}`);
  return node.$ref && !/^#\/components\/schemas\//.test(node.$ref) ? resolvePointer(doc, node.$ref) : node;
}

/**
 * The AsyncAPI operations, written from the server's side: a `receive` operation is a client
 * frame (with the server's `reply`), a `send` operation a frame the server pushes unasked.
 */
function operations(doc, taken) {
  const out = [];
  const messageType = (ref) => {
    const message = resolvePointer(doc, ref);
    const payload = message.payload?.schema ?? message.payload ?? {};
    if (payload.$ref) return refName(payload.$ref);
    // An inline payload gets a type of its own, named after the message.
    let name = typeName(`${message.name ?? ref.split("/").pop()}Payload`);
    while (taken.has(name)) name = `${name}_`;
    taken.add(name);
    out.push(`export type ${name} = ${schemaType(payload, 0)};\n`);
    return name;
  };
  const requests = [];
  const pushed = [];
  for (const name of Object.keys(doc.operations ?? {}).sort()) {
    const op = doc.operations[name];
    const frames = union((op.messages ?? []).map((m) => messageType(m.$ref)));
    if (op.action === "receive") {
      const replies = (op.reply?.messages ?? []).map((m) => messageType(m.$ref));
      requests.push(
        `${comment({ description: op.summary }, "  ")}  ${propertyKey(name)}: {\n    frame: ${frames};\n    reply: ${replies.length ? union(replies) : "never"};\n  };`,
      );
    } else if (op.action === "send") {
      pushed.push(...(op.messages ?? []).map((m) => messageType(m.$ref)));
    }
  }
  if (requests.length) {
    out.push(`/** Every client frame by action, with the server's replies to it. */\nexport interface Operations {\n${requests.join("\n")}\n}\n`);
  }
  if (pushed.length) {
    out.push(`/** Every frame the server pushes unasked. */\nexport type Pushed =\n${[...new Set(pushed)].sort().map((n) => `  | ${n}`).join("\n")};\n`);
  }
  return out;
}

/** The document's `x-parley-*` tables (error codes, limits, ...) as constant data. */
function extensions(doc) {
  return Object.keys(doc)
    .filter((key) => key.startsWith("x-parley-"))
    .sort()
    .map((key) => {
      const name = key.slice("x-parley-".length).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
      return `/** \`${key}\` of the document. */\nexport const ${name} = ${JSON.stringify(doc[key], null, 2)} as const;\n`;
    });
}

/**
 * The TypeScript module for one parsed schema document.
 *
 * @param shared declarations of a module generated before (`{from, declarations}`): a schema
 *   whose declaration is the same text there is imported and re-exported, not written twice.
 */
export function generate(doc, documentName, shared) {
  return build(doc, documentName, shared).text;
}

function build(doc, documentName, shared) {
  const kind = doc.asyncapi ? `AsyncAPI ${doc.asyncapi}` : doc.openapi ? `OpenAPI ${doc.openapi}` : "JSON Schema";
  const parts = [
    `// Generated by scripts/gen-types.mjs from docs/schema/${documentName} (${kind}` +
      `${doc.info?.version ? `, API version ${doc.info.version}` : ""}).\n` +
      "// Do not edit: change the models, run `make schema`, then `npm run gen-types`.\n",
    "/* eslint-disable */\n",
  ];
  const named = namedSchemas(doc);
  const declarations = new Map();
  const reused = { values: [], types: [] };
  const own = [];
  for (const name of [...named.keys()].sort()) {
    const text = declaration(name, named.get(name));
    declarations.set(name, text);
    if (shared?.declarations.get(name) === text) {
      (text.startsWith("export const") || text.includes("\nexport const") ? reused.values : reused.types).push(typeName(name));
    } else {
      own.push(text);
    }
  }
  if (reused.values.length + reused.types.length > 0) {
    const lines = ["// The same declarations as in the module generated before: declared once."];
    if (reused.values.length) lines.push(`import { ${reused.values.join(", ")} } from "${shared.from}";`);
    if (reused.types.length) lines.push(`import type { ${reused.types.join(", ")} } from "${shared.from}";`);
    if (reused.values.length) lines.push(`export { ${reused.values.join(", ")} };`);
    if (reused.types.length) lines.push(`export type { ${reused.types.join(", ")} };`);
    parts.push(`${lines.join("\n")}\n`);
  }
  parts.push(...own);
  if (doc.openapi) parts.push(routes(doc));
  if (doc.asyncapi) parts.push(...operations(doc, new Set([...named.keys()].map(typeName))));
  parts.push(...extensions(doc));
  return { text: parts.join("\n"), declarations };
}

/** `[{module, path, text}]` for every document present in `schemaDir`, in SOURCES order. */
export function generateAll(schemaDir = SCHEMA_DIR) {
  let shared;
  const out = [];
  for (const { document, module } of SOURCES) {
    if (!existsSync(join(schemaDir, document))) continue;
    const built = build(JSON.parse(readFileSync(join(schemaDir, document), "utf8")), document, shared);
    out.push({ module, path: join(OUT_DIR, module), text: built.text });
    shared ??= { from: `./${module.replace(/\.ts$/, ".js")}`, declarations: built.declarations };
  }
  return out;
}

function main(argv) {
  const check = argv.includes("--check");
  const outputs = generateAll();
  const missing = SOURCES.filter(({ document }) => !existsSync(join(SCHEMA_DIR, document)));
  if (missing.length > 0) {
    console.error(`gen-types: missing ${missing.map((m) => `docs/schema/${m.document}`).join(", ")} (run \`make schema\`)`);
    return 1;
  }
  if (check) {
    const stale = outputs.filter(({ path, text }) => !existsSync(path) || readFileSync(path, "utf8") !== text);
    for (const { module } of stale) console.error(`gen-types: src/generated/${module} differs from what docs/schema generates`);
    if (stale.length > 0) {
      console.error("gen-types: run `npm run gen-types` and commit the result");
      return 1;
    }
    console.log(`gen-types: ${outputs.length} generated modules match docs/schema`);
    return 0;
  }
  mkdirSync(OUT_DIR, { recursive: true });
  for (const { module, path, text } of outputs) {
    writeFileSync(path, text);
    console.log(`gen-types: wrote src/generated/${module}`);
  }
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
