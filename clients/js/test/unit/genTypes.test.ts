import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { SOURCES, generate, generateAll, schemaType } from "../../scripts/gen-types.mjs";

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8"));

/** Type-check TypeScript sources; returns the diagnostics as text. */
function typeErrors(files: Record<string, string>): string[] {
  const dir = mkdtempSync(join(tmpdir(), "parley-gen-"));
  const names = Object.entries(files).map(([name, text]) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  });
  const program = ts.createProgram(
    names, {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts"],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
    skipDefaultLibCheck: true,
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

describe("gen-types", () => {
  it("maps pydantic's JSON Schema shapes onto TypeScript", () => {
    // GIVEN the shapes pydantic emits THEN each maps to its TypeScript type
    expect(schemaType({ const: "send", type: "string" })).toBe('"send"');
    expect(schemaType({ enum: ["start", "stop"], type: "string" })).toBe('"start" | "stop"');
    expect(schemaType({ anyOf: [{ type: "string", maxLength: 64 }, { type: "null" }], default: null })).toBe("string | null");
    expect(schemaType({ type: "array", items: { $ref: "#/components/schemas/Message" } })).toBe("Message[]");
    expect(schemaType({ type: "array", items: { anyOf: [{ type: "string" }, { type: "integer" }] } })).toBe("(string | number)[]");
    expect(schemaType({ type: "object", additionalProperties: { type: "integer" } })).toBe("Record<string, number>");
    expect(schemaType({ $ref: "#/$defs/Page_Message_" })).toBe("PageMessage");
    expect(schemaType({ title: "Data" })).toBe("unknown");
    expect(schemaType({ allOf: [{ $ref: "#/$defs/A" }, { $ref: "#/$defs/B" }] })).toBe("A & B");
    expect(schemaType({ type: "array", prefixItems: [{ type: "string" }, { type: "integer" }] })).toBe("[string, number]");
    expect(schemaType({ type: ["string", "null"] })).toBe("string | null");
    expect(schemaType({ type: "object", properties: { a: { type: "string" } }, required: ["a"], oneOf: [{ required: ["b"], properties: { b: { type: "string" } } }, { required: ["c"], properties: { c: { type: "string" } } }] })).toContain("& ({");
  });

  it("generates modules from AsyncAPI and OpenAPI documents that type-check", () => {
    // GIVEN small documents built from the server's pydantic models
    const asyncapi = generate(fixture("asyncapi.json"), "asyncapi.json");
    const openapi = generate(fixture("openapi.json"), "openapi.json");
    // THEN the models, the operations and the routes are declared
    expect(asyncapi).toContain("export interface SendFrame {");
    expect(asyncapi).toContain("body: TextBody | CustomBody;");
    expect(asyncapi).toContain("cursors?: Record<string, number>;");
    expect(asyncapi).toContain("export type Code = 1001 | 1002");
    expect(asyncapi).toMatch(/export interface Operations \{\n {2}clientSend: \{\n {4}frame: SendFrame \| SyncFrame;/);
    expect(asyncapi).toContain("export type Pushed =\n  | ErrorFrame;");
    expect(openapi).toContain('"POST /auth/login": {');
    expect(openapi).toContain("response: TokenPair;");
    expect(openapi).toContain('tokenType: "Bearer";');
    // AND both modules compile under strict TypeScript
    expect(typeErrors({ "asyncapi.ts": asyncapi, "openapi.ts": openapi })).toEqual([]);
  });

  it("declares a schema both documents share once, in the first module", () => {
    // GIVEN two documents that both define RoleBody
    const dir = mkdtempSync(join(tmpdir(), "parley-schema-"));
    const asyncapi = fixture("asyncapi.json") as { components: { schemas: Record<string, unknown> } };
    const openapi = fixture("openapi.json") as { components: { schemas: Record<string, unknown> } };
    asyncapi.components.schemas.RoleBody = openapi.components.schemas.RoleBody;
    writeFileSync(join(dir, "asyncapi.json"), JSON.stringify(asyncapi));
    writeFileSync(join(dir, "openapi.json"), JSON.stringify(openapi));
    // WHEN both are generated
    const [first, second] = generateAll(dir);
    // THEN the second module imports and re-exports it, and the pair type-checks
    expect(first?.text).toContain("export interface RoleBody {");
    expect(second?.text).not.toContain("export interface RoleBody {");
    expect(second?.text).toContain('import type { RoleBody } from "./asyncapi.js";');
    expect(second?.text).toContain("export type { RoleBody };");
    expect(typeErrors({ "asyncapi.ts": first?.text ?? "", "openapi.ts": second?.text ?? "" })).toEqual([]);
  });

  it("emits named integer enums and x-parley tables as constants", () => {
    const text = generate(
      {
        openapi: "3.1.0",
        components: { schemas: { ErrorCode: { type: "integer", enum: [1001, 2001], "x-enum-varnames": ["INVALID_PARAM", "MESSAGE_SEND_FAILED"] } } },
        "x-parley-limits": { frameBytes: { value: 32768 } },
      },
      "openapi.json",
    );
    expect(text).toContain("export const ErrorCode = {\n  INVALID_PARAM: 1001,\n  MESSAGE_SEND_FAILED: 2001,\n} as const;");
    expect(text).toContain("export const limits = {");
    expect(typeErrors({ "m.ts": text })).toEqual([]);
  });

  it("src/generated matches what docs/schema generates (run `npm run gen-types` after `make schema`)", () => {
    // GIVEN the committed schema documents
    const outputs = generateAll();
    expect(outputs.map((o) => o.module)).toEqual(SOURCES.map((s) => s.module));
    // THEN each committed module is exactly the generator's output
    for (const { path, text } of outputs) {
      expect(existsSync(path), `${path} is missing`).toBe(true);
      expect(readFileSync(path, "utf8"), `${path} is stale: run npm run gen-types`).toBe(text);
    }
  });
});
