package dev.warmstart.fetch.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class CacheKeyTest {
  static final List<Origin.Listed> LISTING =
      List.of(
          new Origin.Listed(
              "config.json", 100, null, "https://hub.test/org/m/resolve/aaaa/config.json"),
          new Origin.Listed(
              "model.safetensors",
              1000,
              "ab".repeat(32),
              "https://hub.test/org/m/resolve/aaaa/model.safetensors"));

  @Test
  void equivalentSpellingsShareAnIdentity() {
    assertEquals(
        CacheKey.identity("hf://Qwen/Qwen3-8B", null),
        CacheKey.identity("hf://Qwen/Qwen3-8B@main", null));
    assertEquals(
        CacheKey.identity("hf://Qwen/Qwen3-8B/", null),
        CacheKey.identity(" hf://Qwen/Qwen3-8B@main ", "https://huggingface.co/"));
    assertEquals(
        CacheKey.identity("HTTPS://Models.Example.com:443/m.bin", null),
        CacheKey.identity("https://models.example.com/m.bin#x", null));
    // Presigned URLs carry a new signature every time.
    assertEquals(
        CacheKey.identity(
            "https://b.s3.amazonaws.com/m.bin?X-Amz-Signature=1&X-Amz-Date=2&versionId=7", null),
        CacheKey.identity("https://b.s3.amazonaws.com/m.bin?versionId=7&X-Amz-Signature=9", null));
  }

  @Test
  void differentContentHasDifferentIdentities() {
    assertNotEquals(
        CacheKey.identity("hf://org/m@v1", null), CacheKey.identity("hf://org/m@v2", null));
    assertNotEquals(
        CacheKey.identity("hf://org/m", null),
        CacheKey.identity("hf://org/m", "https://mirror.test"));
    assertNotEquals(
        CacheKey.identity("s3://b/m/", null),
        CacheKey.identity("s3://b/m/", "http://minio.test:9000"));
    assertNotEquals(
        CacheKey.identity("s3://b/m/", null),
        CacheKey.identity("s3://b/m", null),
        "a prefix and an object are different sources");
    assertNotEquals(
        CacheKey.identity("https://h/m.bin?versionId=1", null),
        CacheKey.identity("https://h/m.bin?versionId=2", null));
    assertNotEquals(
        CacheKey.identity("https://h/m.bin", null), CacheKey.identity("https://h/M.bin", null));
  }

  @Test
  void onlyAFullCommitIsImmutable() {
    assertTrue(CacheKey.immutable("hf://org/m@0123456789abcdef0123456789abcdef01234567"));
    assertFalse(CacheKey.immutable("hf://org/m@main"));
    assertFalse(CacheKey.immutable("hf://org/m@0123456"));
    assertFalse(CacheKey.immutable("hf://org/m"));
    assertFalse(CacheKey.immutable("s3://b/m@0123456789abcdef0123456789abcdef01234567"));
  }

  @Test
  void keysDependOnIdentityAndListing() {
    String key = CacheKey.key("hf://org/m@main", LISTING);
    assertTrue(CacheKey.isKey(key));
    assertEquals(
        key,
        CacheKey.key("hf://org/m@main", List.of(LISTING.get(1), LISTING.get(0))),
        "order does not matter");
    assertNotEquals(key, CacheKey.key("hf://org/m@dev", LISTING));
    assertNotEquals(key, CacheKey.key("hf://org/m@main", null));
    assertNotEquals(
        key,
        CacheKey.key(
            "hf://org/m@main",
            List.of(
                LISTING.get(0),
                new Origin.Listed(
                    "model.safetensors", 1000, "cd".repeat(32), LISTING.get(1).version()))),
        "another hash");
    assertNotEquals(
        key,
        CacheKey.key(
            "hf://org/m@main",
            List.of(
                LISTING.get(0),
                new Origin.Listed(
                    "model.safetensors",
                    1000,
                    "ab".repeat(32),
                    "https://hub.test/org/m/resolve/bbbb/model.safetensors"))),
        "another commit");
    assertNotEquals(key, CacheKey.key("hf://org/m@main", List.of(LISTING.get(0))), "a file less");
    assertEquals(
        key,
        CacheKey.key(
            "hf://org/m@main",
            List.of(
                LISTING.get(0),
                new Origin.Listed(
                    "model.safetensors",
                    1000,
                    "AB".repeat(32),
                    LISTING.get(1).version() + "?sig=1"))),
        "signatures in URLs and hex case do not matter");
  }

  @Test
  void sizesAreBytesOrQuantities() {
    assertEquals(500L << 30, Sizes.parse("500Gi"));
    assertEquals(1_500_000_000L, Sizes.parse("1.5G"));
    assertEquals(123, Sizes.parse(" 123 "));
    assertEquals(2048, Sizes.parse("2Ki"));
    assertEquals(Long.MAX_VALUE, Sizes.parse("100Ei"));
    assertThrows(IllegalArgumentException.class, () -> Sizes.parse("lots"));
    assertThrows(IllegalArgumentException.class, () -> Sizes.parse("-1Gi"));
    assertThrows(IllegalArgumentException.class, () -> Sizes.parse(""));
    assertEquals("1.5 GiB", Sizes.format(3L << 29));
    assertEquals("12 B", Sizes.format(12));
  }
}
