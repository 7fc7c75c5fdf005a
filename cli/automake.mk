# cli: fabricctl, the operator's command-line client of the REST API.
#
# Everything but main() is in a library, so that tests/cli/ can run the
# whole program in-process with fabricctl_run().

noinst_LIBRARIES += cli/libfabricctl.a
cli_libfabricctl_a_SOURCES = \
	cli/client.c \
	cli/client.h \
	cli/commands.c \
	cli/commands.h \
	cli/drs.c \
	cli/drs.h \
	cli/fabricctl.c \
	cli/fabricctl.h \
	cli/observe.c \
	cli/observe.h \
	cli/parse.c \
	cli/parse.h \
	cli/table.c \
	cli/table.h
nodist_cli_libfabricctl_a_SOURCES = cli/completion-script.c
cli_libfabricctl_a_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS)

bin_PROGRAMS += cli/fabricctl
cli_fabricctl_SOURCES = cli/main.c
cli_fabricctl_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS)
cli_fabricctl_LDADD = cli/libfabricctl.a utils/libfabric-utils.a \
	$(CURL_LIBS) $(JANSSON_LIBS)

# The completion script is one file, both installed for bash-completion
# (which loads it by the command's name) and built into the program for
# "fabricctl completion bash", so that the two never differ.
bashcompletiondir = $(datadir)/bash-completion/completions
bashcompletion_DATA = cli/completions/fabricctl
EXTRA_DIST += cli/fabricctl.bash-completion
CLEANFILES += cli/completion-script.c cli/completions/fabricctl

cli/completions/fabricctl: cli/fabricctl.bash-completion
	$(AM_V_GEN)$(MKDIR_P) cli/completions && cp $(srcdir)/cli/fabricctl.bash-completion $@

# Each line becomes a C string literal: backslashes and quotes escaped.
cli/completion-script.c: cli/fabricctl.bash-completion
	$(AM_V_GEN)$(MKDIR_P) cli && { \
	  echo '/* Generated from cli/fabricctl.bash-completion: do not edit. */'; \
	  echo '#include "cli/commands.h"'; \
	  echo 'const char commands_bash_completion[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' \
	    $(srcdir)/cli/fabricctl.bash-completion; \
	  echo '    ;'; \
	} >$@.tmp && mv $@.tmp $@
