package dev.warmstart.fetch.command;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class CdsTrainingCommandTest {
  @Test
  void theTrainingRunFetchesThroughTheCacheAndLeavesNoSettingsBehind() {
    // Fails when the S3 stand-in no longer satisfies S3Source: the image's archive would then miss
    // the SDK.
    assertEquals(0, new CommandLine(new CdsTrainingCommand()).execute());
    assertNull(
        System.getProperty("aws.accessKeyId"),
        "the stand-in's credentials must not leak into other code");
  }
}
