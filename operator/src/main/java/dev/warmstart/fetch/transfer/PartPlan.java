package dev.warmstart.fetch.transfer;

/**
 * How a file of known size is cut into byte ranges, each fetched by its own request: parts of
 * {@code partSize} bytes, the last one shorter. A 0-byte file has no parts.
 */
record PartPlan(long size, long partSize) {

  PartPlan {
    if (size < 0 || partSize <= 0) {
      throw new IllegalArgumentException("size " + size + ", part size " + partSize);
    }
  }

  int count() {
    return (int) ((size + partSize - 1) / partSize);
  }

  long offset(int part) {
    return part * partSize;
  }

  long length(int part) {
    return Math.min(partSize, size - offset(part));
  }

  /** "bytes 16777216-33554431, part 2 of 5", for messages. */
  String describe(int part) {
    return describe(part, offset(part), offset(part) + length(part));
  }

  /** The same for the bytes from {@code start} up to {@code end} (exclusive) of a part. */
  String describe(int part, long start, long end) {
    return "bytes " + start + "-" + (end - 1) + ", part " + (part + 1) + " of " + count();
  }
}
