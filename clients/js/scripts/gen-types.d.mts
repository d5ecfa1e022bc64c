// Types of scripts/gen-types.mjs, for the tests that import it.
export const SOURCES: { document: string; module: string }[];
export function typeName(name: string): string;
export function schemaType(schema: unknown, depth?: number): string;
export function namedSchemas(doc: unknown): Map<string, unknown>;
export function generate(
  doc: unknown,
  documentName: string,
  shared?: { from: string; declarations: Map<string, string> },
): string;
export function generateAll(schemaDir?: string): { module: string; path: string; text: string }[];
