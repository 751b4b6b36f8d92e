"""The CLI's commands; each module has name, help, add_arguments(parser) and run(args) -> exit code."""
from nodeflow.cli import batch_cmd, convert_cmd, gui_cmd, nodes_cmd, run_cmd, serve_cmd, train_demo_cmd, validate_cmd

COMMANDS = [run_cmd, batch_cmd, validate_cmd, nodes_cmd, convert_cmd, serve_cmd, gui_cmd, train_demo_cmd]
