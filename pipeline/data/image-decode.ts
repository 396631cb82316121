/**
 * PNG and JPEG bytes to RGBA pixels (pngjs, jpeg-js: pure JavaScript, no native build). Only for
 * bytes whose header pipeline/catalog/image-file.ts has already checked: the limits below are
 * what that check lets through, and each decoder's own guard is set just above them.
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { MAX_IMAGE_SIDE, type ImageFormat } from '../catalog/image-file.js';
import type { RgbaImage } from './image-convert.js';

/** jpeg-js refuses more megapixels than this: the largest image the header check lets through. */
const MAX_MEGAPIXELS = (MAX_IMAGE_SIDE * MAX_IMAGE_SIDE) / 1e6;
/** jpeg-js's working memory for that image: RGBA output plus its per-component buffers. */
const MAX_JPEG_MEMORY_MB = 2048;

/** Decodes the bytes of a checked PNG or JPEG; throws the decoder's error on damaged data. */
export function decodeImage(bytes: Uint8Array, format: ImageFormat): RgbaImage {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'png') {
    // 16-bit channels are scaled to 8 bits, palettes and grey expanded to RGBA.
    const png = PNG.sync.read(buffer);
    return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
  }
  const img = jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_MEGAPIXELS, maxMemoryUsageInMB: MAX_JPEG_MEMORY_MB });
  return { width: img.width, height: img.height, data: img.data };
}
