# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kmod_global_optspecs
    string join \n V/version h/help
end

function __fish_kmod_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kmod_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kmod_using_subcommand
    set -l cmd (__fish_kmod_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kmod -n "__fish_kmod_needs_command" -s V -l version -d 'show version'
complete -c kmod -n "__fish_kmod_needs_command" -s h -l help -d 'Print help'
complete -c kmod -n "__fish_kmod_needs_command" -f -a "help" -d 'show help message'
complete -c kmod -n "__fish_kmod_needs_command" -f -a "list" -d 'list currently loaded modules'
complete -c kmod -n "__fish_kmod_needs_command" -f -a "static-nodes" -d 'output the static-node information installed with the currently running kernel'
complete -c kmod -n "__fish_kmod_using_subcommand help" -s h -l help -d 'Print help'
complete -c kmod -n "__fish_kmod_using_subcommand list" -s s -l syslog -d 'print to syslog, not stderr'
complete -c kmod -n "__fish_kmod_using_subcommand list" -s v -l verbose -d 'enables more messages'
complete -c kmod -n "__fish_kmod_using_subcommand list" -s V -l version -d 'show version'
complete -c kmod -n "__fish_kmod_using_subcommand list" -l json -d 'print the list as one JSON document (rkmod extension)'
complete -c kmod -n "__fish_kmod_using_subcommand list" -s h -l help -d 'Print help'
complete -c kmod -n "__fish_kmod_using_subcommand static-nodes" -s f -l format -d 'choose format to use: see "Formats"' -r
complete -c kmod -n "__fish_kmod_using_subcommand static-nodes" -s o -l output -d 'write output to file' -r
complete -c kmod -n "__fish_kmod_using_subcommand static-nodes" -s h -l help -d 'show this help'
