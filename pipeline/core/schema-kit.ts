/**
 * Building blocks for the schemas of our JSON files (valibot): objects that keep unknown keys,
 * finite numbers, integer counts. The artifacts' schemas (catalog/schema.ts) and run.json's
 * (manifest.ts) are made of these.
 */
import * as v from 'valibot';


/**
 * Valibot's object and record schemas take an array for an object (and copy it into a new object,
 * so no check after them can tell); a JSON array is never one of our objects.
 */
const notAnArray = v.check((value: unknown) => !Array.isArray(value));

/**
 * An object with these entries that keeps any unknown extra key (forward compatibility). Its
 * output type is the plain object type of the entries: TypeScript object types are open anyway,
 * and an index signature `[key: string]: unknown` would only hide typos in field names.
 */
export function loose<const E extends v.ObjectEntries>(entries: E) {
  return v.pipe(
    v.unknown(),
    notAnArray,
    v.looseObject(entries),
    v.transform((value) => value as v.InferOutput<v.ObjectSchema<E, undefined>>),
  );
}

/** An object of any keys whose values all match `value` (layer name -> ..., percentile -> ...). */
export function dict<const S extends v.GenericSchema>(value: S) {
  return v.pipe(v.unknown(), notAnArray, v.record(v.string(), value));
}

/** Any finite number (not NaN, not ±Infinity, not null). */
export const num = () => v.pipe(v.number(), v.finite());
/** A finite number >= 0. */
export const nonNegative = () => v.pipe(v.number(), v.finite(), v.minValue(0));
/** An integer >= min. */
export const int = (min = 0) => v.pipe(v.number(), v.integer(), v.minValue(min));
/** A tensor shape: integer dimensions. */
export const shape = () => v.array(int());
