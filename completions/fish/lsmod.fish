complete -c lsmod -s s -l syslog -d 'print to syslog, not stderr'
complete -c lsmod -s v -l verbose -d 'enables more messages'
complete -c lsmod -s V -l version -d 'show version'
complete -c lsmod -s h -l help -d 'Print help'
