# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rkmod_global_optspecs
    string join \n install-links= f/force V/version h/help
end

function __fish_rkmod_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rkmod_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rkmod_using_subcommand
    set -l cmd (__fish_rkmod_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rkmod -n "__fish_rkmod_needs_command" -l install-links -d 'Make DIR/TOOL a symbolic link to this binary for every tool, creating DIR if needed' -r -f -a "(__fish_complete_directories)"
complete -c rkmod -n "__fish_rkmod_needs_command" -s f -l force -d 'With --install-links, replace files that are in the way'
complete -c rkmod -n "__fish_rkmod_needs_command" -s V -l version -d 'Print the version'
complete -c rkmod -n "__fish_rkmod_needs_command" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "help" -d 'Print the list of tools'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "modinfo" -d 'Show information about a Linux kernel module'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "modprobe" -d 'Add and remove modules from the Linux kernel'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "depmod" -d 'Generate modules.dep and map files'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "insmod" -d 'Insert a module into the Linux kernel'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "rmmod" -d 'Remove a module from the Linux kernel'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "lsmod" -d 'Show the status of modules in the Linux kernel'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "kmod" -d 'Manage kernel modules: list, load, unload, etc'
complete -c rkmod -n "__fish_rkmod_using_subcommand help" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s F -l field -d 'Print only provided FIELD' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s k -l set-version -d 'Use VERSION instead of $(uname -r)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s b -l basedir -d 'Use DIR as filesystem root for /lib/modules' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -l verify -d 'Verify each module\'s signature against the X.509 certificates in CERT (DER or PEM; repeat for several files) instead of showing its fields (rkmod extension)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s a -l author -d 'Print only \'author\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s d -l description -d 'Print only \'description\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s l -l license -d 'Print only \'license\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s p -l parameters -d 'Print only \'parm\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s n -l filename -d 'Print only \'filename\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s 0 -l null -d 'Use \\0 instead of \\n'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s m -l modname -d 'Handle argument as module name instead of alias or filename'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -l json -d 'Print one JSON document instead of text; with --verify, the verdicts (rkmod extension)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s w -l wait -d 'With -r, keep trying for up to MSEC while the module is in use' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s C -l config -d 'Read FILE (a file or directory) instead of the default configuration' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s d -l dirname -d 'Use DIR as the file system root for /lib/modules' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s S -l set-version -d 'Use VERSION instead of $(uname -r)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l parallel -d 'Load independent modules at the same time, with N threads (default: the number of CPUs); not with -r' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s a -l all -d 'Consider every argument a module to insert or remove (-r)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s r -l remove -d 'Remove modules instead of inserting'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l remove-holders -d 'Also remove the modules holding the module (implies -r)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l remove-dependencies -d 'Deprecated: use --remove-holders'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l first-time -d 'Fail if the module is already inserted or removed'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s i -l ignore-install -l ignore-remove -d 'Ignore install and remove commands (and softdeps) of the named module'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s b -l use-blacklist -d 'Apply the blacklist to modules named directly too'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s f -l force -d 'Force insertion or removal (implies --force-modversion and --force-vermagic)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l force-modversion -d 'Ignore the module\'s symbol versions'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l force-vermagic -d 'Ignore the module\'s version magic'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s R -l show-alias -d 'Print the modules an alias resolves to and exit'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l resolve-alias -d 'Deprecated: use --show-alias'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s D -l show-depends -d 'Print the module\'s dependencies and exit'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s c -l show-config -d 'Print the configuration and exit'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l showconfig -d 'Deprecated: use --show-config'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l show-modversions -d 'Print the symbol versions a module needs and exit'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l dump-modversions -d 'Deprecated: use --show-modversions'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l show-exports -d 'Print the symbols a module exports and exit'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s n -l dry-run -d 'Do everything but insert or remove modules, and print it'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l show -d 'Deprecated: use --dry-run'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s s -l syslog -d 'Print messages to syslog instead of stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s q -l quiet -d 'Print no messages'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s v -l verbose -d 'Print more messages'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s V -l version -d 'Show the version'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l json -d 'With -c or -D, print the configuration and indexes, or the load plan, as one JSON document (rkmod extension)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s P -l symbol-prefix -d 'Architecture symbol prefix' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s C -l config -d 'Read configuration from PATH' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s b -l basedir -d 'Root path (default: /)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s m -l moduledir -d 'Module directory (default: /lib/modules)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s o -l outdir -d 'Output root path (default: same as <basedir>)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s F -l filesyms -d 'Use the file instead of the current kernel symbols' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s E -l symvers -d 'Use Module.symvers file to check symbol versions' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s a -l all -d 'Probe all modules'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s A -l quick -d 'Only does the work if there\'s a new module'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s e -l errsyms -d 'Report not supplied symbols'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s n -l show -l dry-run -d 'Write the dependency file on stdout only'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s v -l verbose -d 'Enable verbose mode'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s w -l warn -d 'Warn on duplicates'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s V -l version -d 'show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -l no-cache -d 'Read every module; neither read nor write the module cache'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s f -l force -d 'DANGEROUS: forces a module load, may cause data corruption and crash your machine. Implies --force-modversion and --force-vermagic'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -l force-modversion -d 'Ignore module\'s version'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -l force-vermagic -d 'Ignore module\'s version magic'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s s -l syslog -d 'print to syslog, not stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s v -l verbose -d 'enables more messages'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s V -l version -d 'show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s f -l force -d 'DANGEROUS: forces a module unload and may crash your machine'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s s -l syslog -d 'print to syslog, not stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s v -l verbose -d 'enables more messages'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s V -l version -d 'show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -s s -l syslog -d 'print to syslog, not stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -s v -l verbose -d 'enables more messages'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -s V -l version -d 'show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -l json -d 'print the list as one JSON document (rkmod extension)'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and not __fish_seen_subcommand_from help list static-nodes" -s V -l version -d 'show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and not __fish_seen_subcommand_from help list static-nodes" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and not __fish_seen_subcommand_from help list static-nodes" -f -a "help" -d 'show help message'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and not __fish_seen_subcommand_from help list static-nodes" -f -a "list" -d 'list currently loaded modules'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and not __fish_seen_subcommand_from help list static-nodes" -f -a "static-nodes" -d 'output the static-node information installed with the currently running kernel'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and __fish_seen_subcommand_from help" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and __fish_seen_subcommand_from list" -s s -l syslog -d 'print to syslog, not stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and __fish_seen_subcommand_from list" -s v -l verbose -d 'enables more messages'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and __fish_seen_subcommand_from list" -s V -l version -d 'show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and __fish_seen_subcommand_from list" -l json -d 'print the list as one JSON document (rkmod extension)'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and __fish_seen_subcommand_from static-nodes" -s f -l format -d 'choose format to use: see "Formats"' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and __fish_seen_subcommand_from static-nodes" -s o -l output -d 'write output to file' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand kmod; and __fish_seen_subcommand_from static-nodes" -s h -l help -d 'show this help'
