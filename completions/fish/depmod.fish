complete -c depmod -s P -l symbol-prefix -d 'Architecture symbol prefix' -r
complete -c depmod -s C -l config -d 'Read configuration from PATH' -r
complete -c depmod -s b -l basedir -d 'Root path (default: /)' -r
complete -c depmod -s m -l moduledir -d 'Module directory (default: /lib/modules)' -r
complete -c depmod -s o -l outdir -d 'Output root path (default: same as <basedir>)' -r
complete -c depmod -s F -l filesyms -d 'Use the file instead of the current kernel symbols' -r
complete -c depmod -s E -l symvers -d 'Use Module.symvers file to check symbol versions' -r
complete -c depmod -s a -l all -d 'Probe all modules'
complete -c depmod -s A -l quick -d 'Only does the work if there\'s a new module'
complete -c depmod -s e -l errsyms -d 'Report not supplied symbols'
complete -c depmod -s n -l show -l dry-run -d 'Write the dependency file on stdout only'
complete -c depmod -s v -l verbose -d 'Enable verbose mode'
complete -c depmod -s w -l warn -d 'Warn on duplicates'
complete -c depmod -s V -l version -d 'show version'
complete -c depmod -l no-cache -d 'Read every module; neither read nor write the module cache'
complete -c depmod -s h -l help -d 'Print help'
