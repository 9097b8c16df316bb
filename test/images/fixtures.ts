/** Image bytes for the image tests, and data URIs of them. */

/** A 1x1 PNG. */
export const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64"
)

/** Bytes that start as a JPEG does (a JFIF header), then `size` bytes in all. */
export const jpeg = (size = 64) => {
  const bytes = Buffer.alloc(size, 0x42)
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]).copy(bytes)
  return bytes
}

/** Bytes that start as a GIF does. */
export const GIF = Buffer.concat([Buffer.from("GIF89a", "ascii"), Buffer.alloc(32, 1)])

export const dataUri = (mediaType: string, bytes: Uint8Array) =>
  `data:${mediaType};base64,${Buffer.from(bytes).toString("base64")}`
