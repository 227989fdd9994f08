package dev.warmstart;

import dev.warmstart.fetch.command.CdsTrainingCommand;
import dev.warmstart.fetch.command.FetchModelCommand;
import dev.warmstart.gate.GateCommand;
import dev.warmstart.operator.OperatorCommand;
import dev.warmstart.pause.InstallPauseCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** One jar, one image: the operator and the small helpers that run inside the pods it creates. */
@Command(
    name = "warmstart",
    mixinStandardHelpOptions = true,
    version = "warmstart 0.1.0",
    description = "Makes GPU inference endpoints scale out fast.",
    subcommands = {
      OperatorCommand.class,
      InstallPauseCommand.class,
      GateCommand.class,
      FetchModelCommand.class,
      CdsTrainingCommand.class
    })
public final class Main {
  public static void main(String[] args) {
    System.exit(new CommandLine(new Main()).execute(args));
  }
}
