/* The module every signature fixture is appended to: a relocatable ELF whose only content
 * is a .modinfo section, which is all kmod's modinfo needs. Built by make-fixtures.sh. */
static const char modinfo[] __attribute__((used, section(".modinfo"), aligned(1))) =
	"license=GPL\0name=tiny";
