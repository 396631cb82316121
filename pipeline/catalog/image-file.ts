/**
 * A reader's own picture (--image), judged from its bytes before anything decodes it: the format
 * from the signature (never the file name), the size from the PNG IHDR chunk or the JPEG SOFn
 * segment. A decoder asked for a 20,000 x 20,000 image allocates 1.6 GB before it finds out that
 * the data is garbage; a header read costs nothing and refuses it first.
 */
import { readFile, stat } from 'node:fs/promises';
import { BadInputError, readFailure } from '../core/errors.js';

/** Bigger files are refused unread: a photo of one garment needs far less. */
export const MAX_IMAGE_BYTES = 20_000_000;
/** Longest side a header may claim: the model sees 28 x 28, and 10,000 x 10,000 RGBA is already 400 MB decoded. */
export const MAX_IMAGE_SIDE = 10_000;

export type ImageFormat = 'png' | 'jpeg';

export interface ImageHeader {
  format: ImageFormat;
  /** as stored (before the orientation is applied) */
  width: number;
  height: number;
  /**
   * The EXIF orientation (1-8) a JPEG's camera recorded: phones store a portrait photo as a
   * landscape image and say "rotate 90°" here. 1 (as stored) for a PNG or without the tag.
   */
  orientation: number;
}

/** Why bytes are not an image this project reads; the caller names the file, and gives `fix` when there is one, else the general fix. */
export class NotAnImage extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const startsWith = (bytes: Uint8Array, prefix: readonly number[]) => prefix.every((b, i) => bytes[i] === b);
const u16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
const u32 = (b: Uint8Array, at: number) => ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];

/** The PNG's size from its IHDR chunk, which the format requires to come first. */
function pngHeader(bytes: Uint8Array): ImageHeader {
  const ihdr = String.fromCharCode(...bytes.subarray(12, 16));
  if (bytes.length < 24 || ihdr !== 'IHDR') throw new NotAnImage('a PNG signature without the IHDR chunk that must follow it (a truncated or damaged PNG)');
  return { format: 'png', width: u32(bytes, 16), height: u32(bytes, 20), orientation: 1 };
}

/** SOFn markers of the JPEG processes jpeg-js decodes: baseline (C0), extended (C1) and progressive (C2) Huffman. */
const DECODABLE_SOF = new Set([0xc0, 0xc1, 0xc2]);
/** Every other SOFn (C4 DHT, C8 JPG and CC DAC are not frames): lossless and arithmetic-coded JPEGs. */
const OTHER_SOF = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The JPEG's size from its first SOFn segment, walking the marker segments that precede it (APPn, DQT, DHT, ...). */
function jpegHeader(bytes: Uint8Array): ImageHeader {
  let at = 2;
  let orientation = 1;
  while (at < bytes.length) {
    if (bytes[at] !== 0xff) throw new NotAnImage(`a JPEG whose marker segments break off at byte ${at} (a damaged JPEG)`);
    // Any number of 0xff fill bytes may precede a marker.
    while (bytes[at] === 0xff && at < bytes.length) at++;
    const marker = bytes[at++];
    if (marker === undefined) break;
    // Markers that stand alone, without a length: TEM and the restart markers.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9 || marker === 0xda) throw new NotAnImage('a JPEG without a frame header (SOFn) before its image data');
    if (at + 2 > bytes.length) break;
    const length = u16(bytes, at);
    if (DECODABLE_SOF.has(marker) || OTHER_SOF.has(marker)) {
      if (at + 7 > bytes.length) break;
      if (OTHER_SOF.has(marker)) {
        throw new NotAnImage(`a lossless or arithmetic-coded JPEG (SOF${marker - 0xc0}), which cannot be decoded here`, 'save it as an ordinary JPEG or as PNG');
      }
      const height = u16(bytes, at + 3);
      const width = u16(bytes, at + 5);
      // Height 0 means "given later, in a DNL segment", which no camera writes and jpeg-js does not read.
      if (height === 0) throw new NotAnImage('a JPEG whose height is given after its image data (a DNL segment), which cannot be decoded here', 'save it as an ordinary JPEG or as PNG');
      return { format: 'jpeg', width, height, orientation };
    }
    if (length < 2) throw new NotAnImage(`a JPEG with a marker segment of length ${length} at byte ${at} (a damaged JPEG)`);
    if (marker === 0xe1 && orientation === 1) orientation = exifOrientation(bytes.subarray(at + 2, at + length));
    at += length;
  }
  throw new NotAnImage('a JPEG that ends before its frame header (SOFn): a truncated JPEG');
}

/**
 * The Orientation tag (0x0112) of an APP1 segment's EXIF block (its first image directory), 1-8;
 * 1 for any other APP1 (XMP) or a block that does not read.
 */
export function exifOrientation(segment: Uint8Array): number {
  if (String.fromCharCode(...segment.subarray(0, 6)) !== 'Exif\0\0') return 1;
  const tiff = segment.subarray(6);
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 1;
  const r16 = (at: number) => (little ? tiff[at] | (tiff[at + 1] << 8) : (tiff[at] << 8) | tiff[at + 1]);
  const r32 = (at: number) => (little ? r16(at) + r16(at + 2) * 0x10000 : r16(at) * 0x10000 + r16(at + 2));
  const ifd = r32(4);
  if (ifd + 2 > tiff.length) return 1;
  for (let i = 0, n = r16(ifd); i < n; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return 1;
    if (r16(entry) === 0x0112) {
      const value = r16(entry + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/** Format and size from the first bytes; NotAnImage when they are neither a PNG nor a JPEG header. */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  if (startsWith(bytes, PNG_SIGNATURE)) return pngHeader(bytes);
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return jpegHeader(bytes);
  const first = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new NotAnImage(`neither a PNG nor a JPEG (its first bytes are ${first || 'none'})`);
}

/** What is wrong with a header's size, or null when it is within the limits. */
export function sizeProblem(h: ImageHeader): string | null {
  if (h.width === 0 || h.height === 0) return `its header claims ${h.width} x ${h.height} px, an image without pixels`;
  if (h.width > MAX_IMAGE_SIDE || h.height > MAX_IMAGE_SIDE) {
    return `its header claims ${h.width} x ${h.height} px, over the limit of ${MAX_IMAGE_SIDE.toLocaleString('en-US')} px a side`;
  }
  return null;
}

export interface ImageFile {
  bytes: Uint8Array;
  header: ImageHeader;
}

const FIX = 'give a PNG or JPEG picture of one piece of clothing, at most 20 MB and 10,000 px a side';

/**
 * Reads an image file given with --image and checks it without decoding it: it exists and is a
 * file, is not empty, is at most MAX_IMAGE_BYTES, starts with a PNG or JPEG header, and the header's
 * size is within MAX_IMAGE_SIDE. Anything else is bad input naming the file and the fix.
 */
export async function readImageFile(path: string): Promise<ImageFile> {
  const bad = (why: string, fix = FIX) => new BadInputError(`--image ${path}: ${why}; ${fix}`);
  const info = await stat(path).catch((err: unknown) => {
    throw readFailure(err, () => bad('no such file'));
  });
  if (!info.isFile()) throw bad('not a file');
  if (info.size === 0) throw bad('the file is empty (0 bytes)');
  if (info.size > MAX_IMAGE_BYTES) throw bad(`${(info.size / 1e6).toFixed(1)} MB, over the limit of ${MAX_IMAGE_BYTES / 1e6} MB`, 'scale it down or save it with more compression (the model sees 28 x 28 pixels)');
  const bytes = new Uint8Array(
    await readFile(path).catch((err: unknown) => {
      throw readFailure(err, () => bad('no such file'));
    }),
  );
  let header: ImageHeader;
  try {
    header = readImageHeader(bytes);
  } catch (err) {
    if (err instanceof NotAnImage) throw bad(err.message, err.fix);
    throw err;
  }
  const problem = sizeProblem(header);
  if (problem) throw bad(problem, 'scale it down (the model sees 28 x 28 pixels)');
  return { bytes, header };
}
