/**
 * `@ordo/governance/yaml`: the bounded YAML reader the configuration uses (size, depth and alias limits,
 * no prototype keys, line numbers for every refusal), on its own entry so that a host parsing its own
 * documents (the runtime's feature plans) loads neither the config schema (zod) nor the metrics
 * (prom-client). The yaml library itself loads on the first parse.
 * @packageDocumentation
 */
export {
  type BoundedRead,
  FORBIDDEN_KEYS,
  findUnsafeKey,
  measureYaml,
  parseBoundedYaml,
  readBoundedText,
  type UnsafeKey,
  type YamlBounds,
  type YamlParsed,
  type YamlRefusal,
} from './boundedYaml.js';
