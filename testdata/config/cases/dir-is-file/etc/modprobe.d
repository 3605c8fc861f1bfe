options dif etc-modprobe.d-is-a-file=1
bogus
