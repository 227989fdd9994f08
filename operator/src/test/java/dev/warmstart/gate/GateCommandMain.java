package dev.warmstart.gate;

import picocli.CommandLine;

/**
 * Runs {@link GateCommand} alone in its own JVM, as the init container does through {@code
 * warmstart gate}.
 */
final class GateCommandMain {
  private GateCommandMain() {}

  public static void main(String[] args) {
    System.exit(new CommandLine(new GateCommand()).execute(args));
  }
}
