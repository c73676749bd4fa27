// Gives the imports of a wasm-bindgen module one- or two-letter names, in the module and in
// its JavaScript glue alike: `node scripts/wasm-short-imports.mjs MODULE.wasm GLUE.js`.
//
// wasm-bindgen names every import after its Rust item plus a 16-digit hash
// (`__wbg_set_onmessage_26abc49cfa5f9ffc`) and every module after its file
// (`./snippets/fastport-wasm-<hash>/js/driver.js`): the hashes do not compress, and the
// names cost the .wasm 1.5 KB gzipped. Only the glue's `__wbg_get_imports` ever sees them
// (the package's API, its types and `InitOutput` name exports, which stay as they are), so
// both files are rewritten together:
//   - every import module gets a short name (`a`, `b`, ...), in the module and as its key in
//     the object `__wbg_get_imports` returns;
//   - the fields of a module the glue builds as an object literal (`const import0 = {...}`)
//     get short names too, in the module and as that literal's keys; a module the glue
//     imports whole (`import * as import1 from "./snippets/..."`) keeps its field names,
//     which are the names the snippet exports.
// Fails (and writes nothing) when the glue does not have the shape this expects, so a
// wasm-bindgen upgrade that changes it stops the build instead of shipping a broken package.
// Prints what it renamed and the bytes saved.
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, gluePath] = process.argv.slice(2);
if (!wasmPath || !gluePath) {
  console.error("usage: node scripts/wasm-short-imports.mjs MODULE.wasm GLUE.js");
  process.exit(2);
}
const fail = (message) => {
  console.error(`wasm-short-imports: ${message}`);
  process.exit(1);
};

const wasm = readFileSync(wasmPath);
let glue = readFileSync(gluePath, "utf8");

// ----- the module: its import section -------------------------------------------------
const uleb = (bytes, at) => {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= bytes.length) fail("truncated LEB128 number");
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return [value, at];
  }
};
const encodeUleb = (value) => {
  const out = [];
  do {
    let b = value % 128;
    value = Math.floor(value / 128);
    if (value) b |= 0x80;
    out.push(b);
  } while (value);
  return Buffer.from(out);
};
const encodeName = (name) => {
  const bytes = Buffer.from(name, "utf8");
  return Buffer.concat([encodeUleb(bytes.length), bytes]);
};

if (wasm.readUInt32LE(0) !== 0x6d736100 || wasm.readUInt32LE(4) !== 1) {
  fail(`${wasmPath} is not a WebAssembly module`);
}
let at = 8;
let section = null;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, body] = uleb(wasm, at + 1);
  if (id === 2) {
    section = { start: at, body, end: body + size };
    break;
  }
  at = body + size;
}
if (!section) fail(`${wasmPath} has no import section`);

// The bytes after the two names: what is imported (function, table, memory, global, tag).
const skipLimits = (at) => {
  const flags = wasm[at];
  [, at] = uleb(wasm, at + 1);
  return flags & 1 ? uleb(wasm, at)[1] : at;
};
const skipValueType = (at) => {
  const t = wasm[at];
  // (ref null? heaptype): a signed LEB128 heap type follows.
  return t === 0x63 || t === 0x64 ? uleb(wasm, at + 1)[1] : at + 1;
};
const skipDescription = (at) => {
  switch (wasm[at]) {
    case 0x00: // function: type index
      return uleb(wasm, at + 1)[1];
    case 0x01: // table: reference type, limits
      return skipLimits(skipValueType(at + 1));
    case 0x02: // memory: limits
      return skipLimits(at + 1);
    case 0x03: // global: value type, mutability
      return skipValueType(at + 1) + 1;
    case 0x04: // tag: attribute, type index
      return uleb(wasm, at + 2)[1];
    default:
      return fail(`unknown import kind 0x${wasm[at].toString(16)}`);
  }
};

const decoder = new TextDecoder("utf-8", { fatal: true });
const readName = (at) => {
  const [length, start] = uleb(wasm, at);
  return [decoder.decode(wasm.subarray(start, start + length)), start + length];
};
const imports = [];
let [count, cursor] = uleb(wasm, section.body);
for (let i = 0; i < count; i++) {
  const [module, afterModule] = readName(cursor);
  const [field, afterField] = readName(afterModule);
  const end = skipDescription(afterField);
  imports.push({ module, field, description: wasm.subarray(afterField, end) });
  cursor = end;
}
if (cursor !== section.end) fail("the import section has bytes after its last import");

// ----- the glue: which object answers each module -------------------------------------
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const getImports = glue.match(/\nfunction __wbg_get_imports\(\) \{\n[\s\S]*?\n\}\n/);
if (!getImports) fail(`${gluePath} has no function __wbg_get_imports`);
const shortName = (i) => {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let name = "";
  do {
    name += letters[i % letters.length];
    i = Math.floor(i / letters.length) - 1;
  } while (i >= 0);
  return name;
};

const modules = new Map(); // original name -> { short, object, literal, fields }
for (const { module } of imports) {
  if (modules.has(module)) continue;
  // `"./fastport_wasm_bg.js": import0,` in the object __wbg_get_imports returns.
  const key = new RegExp(`\\n(\\s+)(?:"${escape(module)}"|${escape(module)}): (import\\d+),\\n`);
  const found = getImports[0].match(key);
  if (!found) fail(`__wbg_get_imports does not give the import module "${module}"`);
  const object = found[2];
  const literal = glue.includes(`\n    const ${object} = {\n`);
  const whole = new RegExp(`\\nimport \\* as ${object} from `).test(glue);
  if (literal === whole) fail(`cannot tell how the glue builds ${object} (module "${module}")`);
  modules.set(module, { short: shortName(modules.size), object, literal, fields: 0 });
}

// ----- rename -------------------------------------------------------------------------
let body = getImports[0];
for (const [module, m] of modules) {
  body = body.replace(
    new RegExp(`(\\n\\s+)(?:"${escape(module)}"|${escape(module)}): ${m.object},\\n`),
    `$1${m.short}: ${m.object},\n`,
  );
}
const renamed = [];
for (const imp of imports) {
  const m = modules.get(imp.module);
  let field = imp.field;
  if (m.literal) {
    field = shortName(m.fields++);
    // The literal's key: `        __wbg_send_d83d0891cf698779: function() {...`, exactly once.
    const key = new RegExp(`(\\n {8})${escape(imp.field)}(: )`, "g");
    const hits = body.match(key) || [];
    if (hits.length !== 1) {
      fail(`the import "${imp.field}" is a key of ${m.object} ${hits.length} times, not once`);
    }
    body = body.replace(key, `$1${field}$2`);
  }
  renamed.push({ ...imp, newModule: m.short, newField: field });
}
glue = glue.replace(getImports[0], () => body);

const entries = renamed.map((r) =>
  Buffer.concat([encodeName(r.newModule), encodeName(r.newField), r.description]),
);
const content = Buffer.concat([encodeUleb(renamed.length), ...entries]);
const out = Buffer.concat([
  wasm.subarray(0, section.start),
  Buffer.from([2]),
  encodeUleb(content.length),
  content,
  wasm.subarray(section.end),
]);
try {
  new WebAssembly.Module(out);
} catch (e) {
  fail(`the rewritten module does not compile: ${e.message}`);
}
writeFileSync(wasmPath, out);
writeFileSync(gluePath, glue);
const fields = renamed.filter((r) => r.newField !== r.field).length;
console.error(
  `wasm-short-imports: ${modules.size} modules and ${fields} of ${renamed.length} imports ` +
    `renamed: ${wasm.length} -> ${out.length} bytes`,
);
