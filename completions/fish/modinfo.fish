complete -c modinfo -s F -l field -d 'Print only provided FIELD' -r
complete -c modinfo -s k -l set-version -d 'Use VERSION instead of $(uname -r)' -r
complete -c modinfo -s b -l basedir -d 'Use DIR as filesystem root for /lib/modules' -r
complete -c modinfo -l verify -d 'Verify each module\'s signature against the X.509 certificates in CERT (DER or PEM; repeat for several files) instead of showing its fields (rkmod extension)' -r
complete -c modinfo -s a -l author -d 'Print only \'author\''
complete -c modinfo -s d -l description -d 'Print only \'description\''
complete -c modinfo -s l -l license -d 'Print only \'license\''
complete -c modinfo -s p -l parameters -d 'Print only \'parm\''
complete -c modinfo -s n -l filename -d 'Print only \'filename\''
complete -c modinfo -s 0 -l null -d 'Use \\0 instead of \\n'
complete -c modinfo -s m -l modname -d 'Handle argument as module name instead of alias or filename'
complete -c modinfo -l json -d 'Print one JSON document instead of text; with --verify, the verdicts (rkmod extension)'
complete -c modinfo -s V -l version -d 'Show version'
complete -c modinfo -s h -l help -d 'Print help'
