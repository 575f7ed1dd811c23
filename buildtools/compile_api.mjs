// Build step: compile the API rules (JSON Schema made from pyclient's pydantic models) into
// standalone JavaScript validators for the loader. Usage: node compile_api.mjs in.json out.mjs
// The output module exports META (everything in the input but the schemas) and VALIDATE
// (method name -> validate function whose .errors lists what failed, as ajv reports it).
import { readFileSync, writeFileSync } from "node:fs";
import Ajv, { _ } from "ajv";
import standaloneCode from "ajv/dist/standalone/index.js";

const [input, output] = process.argv.slice(2);
const api = JSON.parse(readFileSync(input, "utf8"));

const ajv = new Ajv({
  allErrors: true, // the loader picks the deepest error, as pyclient.answers does
  strict: false, // pydantic adds "title" and "default"
  discriminator: true,
  messages: false, // the loader words its own messages (META.messages); ajv's would be dead weight
  code: { source: true, esm: true, optimize: true },
});

// maxBytes: SPEC limits ids in UTF-8 bytes (pyclient.models.MaxBytes).
ajv.addKeyword({
  keyword: "maxBytes",
  type: "string",
  schemaType: "number",
  code(cxt) {
    cxt.fail(_`new TextEncoder().encode(${cxt.data}).length > ${cxt.schema}`);
  },
});

// ajv's discriminator does not take pydantic's "mapping" (the tags are in the members anyway).
function dropMappings(node) {
  if (Array.isArray(node)) return node.forEach(dropMappings);
  if (node === null || typeof node !== "object") return;
  if (node.discriminator && node.discriminator.mapping) delete node.discriminator.mapping;
  Object.values(node).forEach(dropMappings);
}

const exportsByName = {};
const meta = { ...api, methods: {} };
for (const [name, method] of Object.entries(api.methods)) {
  const { schema, ...rest } = method;
  dropMappings(schema);
  ajv.addSchema({ ...schema, $id: name });
  exportsByName[name] = name;
  meta.methods[name] = rest;
}

const code = standaloneCode(ajv, exportsByName);
const validateMap = Object.keys(exportsByName).map((n) => `${JSON.stringify(n)}: ${n}`).join(", ");
writeFileSync(
  output,
  `${code}\nexport const META = ${JSON.stringify(meta)};\nexport const VALIDATE = { ${validateMap} };\n`,
);
