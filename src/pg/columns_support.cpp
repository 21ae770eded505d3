// The planner support of custseg_predict(model, row), custseg_predict(row, name) and
// custseg_predict(row): a call whose row is a table's whole-row reference (custseg_predict(m, c)
// FROM t c) is rewritten into custseg_predict_columns(model, column names, column, ...) (the
// table itself for the model in the last form), which reads the columns where the
// scan left them. The whole-row form would have the executor form the row as a composite value
// (copying every column, detoasting out-of-line ones) for the function to take apart again, which
// costs more than scoring it. Plain PostgreSQL C: everything here may ereport.
#include "custseg_pg.h"

extern "C" {
#include "access/relation.h"
#include "access/tupdesc.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/planmain.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/syscache.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

namespace {

// The column form for one whole-row function, found once per backend (by the whole-row
// function's OID, so an extension dropped and created again is looked up again).
struct Target {
  Oid from = InvalidOid;
  Oid to = InvalidOid;
};
Target targets[3];
bool callback_registered = false;

// Any change to pg_proc forgets the targets.
void forget_targets(Datum, int, uint32) {
  for (Target& t : targets) t = Target{};
}

// custseg_predict_columns(<first>, text[], VARIADIC "any") in the schema of `funcid`, or InvalidOid.
Oid column_form(Oid funcid, Oid first_type) {
  if (!callback_registered) {
    CacheRegisterSyscacheCallback(PROCOID, forget_targets, (Datum)0);
    callback_registered = true;
  }
  for (const Target& t : targets)
    if (t.from == funcid) return t.to;
  char* schema = get_namespace_name(get_func_namespace(funcid));
  if (!schema) return InvalidOid;
  List* name = list_make2(makeString(schema), makeString(pstrdup("custseg_predict_columns")));
  Oid argtypes[3] = {first_type, TEXTARRAYOID, ANYOID};
  const Oid to = LookupFuncName(name, 3, argtypes, /*missing_ok=*/true);
  int free = 0;
  while (free < 2 && targets[free].from != InvalidOid) ++free;
  Target& slot = targets[free];  // all taken (an extension created again): the last one
  slot.from = funcid;
  slot.to = to;
  return to;
}

bool calls_function(Node* node, void* funcid) {
  if (!node) return false;
  if (IsA(node, FuncExpr) && reinterpret_cast<FuncExpr*>(node)->funcid == *static_cast<Oid*>(funcid)) return true;
#if PG_VERSION_NUM >= 160000
  return expression_tree_walker(node, calls_function, funcid);
#else
  // Before 16 the walker's type is bool (*)(): cast through a function pointer of no type.
  return expression_tree_walker(node, reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(calls_function)), funcid);
#endif
}

// Whether a GROUP BY or DISTINCT expression of the query calls the function. Such a call keeps the
// whole-row form: the planner estimates the groups of an expression from the columns it reads, so
// a call on every column (an id among them) would look like one group per row, and a parallel
// plan would lose its partial aggregation; a whole-row reference has no statistics and gets the
// default estimate, as before.
bool groups_by_call(Query* q, Oid funcid) {
  for (List* clauses : {q->groupClause, q->distinctClause}) {
    ListCell* lc;
    foreach (lc, clauses) {
      auto* sgc = static_cast<SortGroupClause*>(lfirst(lc));
      TargetEntry* tle = get_sortgroupclause_tle(sgc, q->targetList);
      if (calls_function(reinterpret_cast<Node*>(tle->expr), &funcid)) return true;
    }
  }
#if PG_VERSION_NUM >= 180000
  // From 18 the grouped expressions live in the query's grouping entry, and the target list names
  // them by a reference to it until the planner puts them back (after simplifying them).
  if (q->hasGroupRTE) {
    ListCell* lc;
    foreach (lc, q->rtable) {
      auto* rte = static_cast<RangeTblEntry*>(lfirst(lc));
      if (rte->rtekind == RTE_GROUP && calls_function(reinterpret_cast<Node*>(rte->groupexprs), &funcid))
        return true;
    }
  }
#endif
  return false;
}

// Whether the range table entry `rtindex` is below the nullable side of an outer join in the join
// tree `n` (`nullable`: n itself is).
bool nullable_in(Node* n, int rtindex, bool nullable) {
  if (!n) return false;
  if (IsA(n, RangeTblRef)) return nullable && reinterpret_cast<RangeTblRef*>(n)->rtindex == rtindex;
  if (IsA(n, FromExpr)) {
    ListCell* lc;
    foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist)
      if (nullable_in(static_cast<Node*>(lfirst(lc)), rtindex, nullable)) return true;
    return false;
  }
  if (IsA(n, JoinExpr)) {
    auto* j = reinterpret_cast<JoinExpr*>(n);
    const bool left = nullable || j->jointype == JOIN_RIGHT || j->jointype == JOIN_FULL;
    const bool right = nullable || j->jointype == JOIN_LEFT || j->jointype == JOIN_FULL || j->jointype == JOIN_ANTI;
    return nullable_in(j->larg, rtindex, left) || nullable_in(j->rarg, rtindex, right);
  }
  return false;
}

// Whether the current user may execute the function.
bool may_execute(Oid funcid) {
#if PG_VERSION_NUM >= 160000
  return object_aclcheck(ProcedureRelationId, funcid, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#else
  return pg_proc_aclcheck(funcid, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#endif
}

// The rewritten call, or nullptr to keep the whole-row call.
Node* simplify(SupportRequestSimplify* req) {
  FuncExpr* call = req->fcall;
  PlannerInfo* root = req->root;
  if (!root || !root->parse) return nullptr;
  // custseg_predict(model custseg_model, row record), custseg_predict(row record, model text) or
  // custseg_predict(row record) (the active model trained on the row's table).
  Oid* declared = nullptr;
  int nargs = 0;
  get_func_signature(call->funcid, &declared, &nargs);
  if (nargs != list_length(call->args) || (nargs != 1 && nargs != 2)) return nullptr;
  Node* row = nullptr;
  Node* model = nullptr;
  Oid model_type = InvalidOid;
  if (nargs == 1) {
    row = static_cast<Node*>(linitial(call->args));
    model_type = REGCLASSOID;
  } else if (declared[1] == TEXTOID) {
    row = static_cast<Node*>(linitial(call->args));
    model = static_cast<Node*>(lsecond(call->args));
    model_type = TEXTOID;
  } else {
    row = static_cast<Node*>(lsecond(call->args));
    model = static_cast<Node*>(linitial(call->args));
    model_type = declared[0];
  }
  if (!IsA(row, Var)) return nullptr;
  Var* whole = reinterpret_cast<Var*>(row);
  if (whole->varattno != 0 || whole->varlevelsup != 0 || whole->varno < 1 ||
      whole->varno > list_length(root->parse->rtable))
    return nullptr;
  RangeTblEntry* rte = rt_fetch(whole->varno, root->parse->rtable);
  if (rte->rtekind != RTE_RELATION) return nullptr;
  if (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_PARTITIONED_TABLE &&
      rte->relkind != RELKIND_MATVIEW && rte->relkind != RELKIND_FOREIGN_TABLE)
    return nullptr;
  if (groups_by_call(root->parse, call->funcid)) return nullptr;
  // A condition on the call (the join tree's WHERE and JOIN conditions) proves its row present (the
  // call is strict), so the planner turns the outer join into an inner one; the column form is not
  // strict and would lose that.
  if (nullable_in(reinterpret_cast<Node*>(root->parse->jointree), int(whole->varno), false) &&
      calls_function(reinterpret_cast<Node*>(root->parse->jointree), &call->funcid))
    return nullptr;
  const Oid target = column_form(call->funcid, model_type);
  if (target == InvalidOid) return nullptr;
  // The privilege to call the function is checked when the plan starts, on the function the plan
  // calls: rewrite only calls whose user may run both (the other one then fails as it would), as
  // the planner does when it inlines a function, and plan again when either one's grants change.
  if (!may_execute(call->funcid) || !may_execute(target)) return nullptr;
  // By table: the row's table, as the whole-row form reads it from the row's type.
  if (!model)
    model = reinterpret_cast<Node*>(
        makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid), ObjectIdGetDatum(rte->relid), false, true));

  // The planner holds a lock on every relation of the query.
  Relation rel = relation_open(rte->relid, NoLock);
  // The reference is of this table's row type (a CHECK constraint is simplified before its Vars
  // name the table they belong to).
  if (whole->vartype != rel->rd_rel->reltype) {
    relation_close(rel, NoLock);
    return nullptr;
  }
  TupleDesc desc = RelationGetDescr(rel);
  int n = 0;
  bool usable = true;
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (att->attisdropped) continue;
#ifdef ATTRIBUTE_GENERATED_VIRTUAL
    if (att->attgenerated == ATTRIBUTE_GENERATED_VIRTUAL) usable = false;  // computed, not stored
#endif
    ++n;
  }
  // A call takes at most FUNC_MAX_ARGS arguments: wider tables keep the whole-row form.
  if (!usable || n == 0 || n > FUNC_MAX_ARGS - 2) {
    relation_close(rel, NoLock);
    return nullptr;
  }
  Datum* names = static_cast<Datum*>(palloc(sizeof(Datum) * size_t(n)));
  List* args = list_make2(model, nullptr);
  int k = 0;
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (att->attisdropped) continue;
    names[k++] = CStringGetTextDatum(NameStr(att->attname));
    Var* v = makeVar(whole->varno, att->attnum, att->atttypid, att->atttypmod, att->attcollation, 0);
    // The column is NULL where the row is (the nullable side of an outer join), and reads the same
    // version of the row (RETURNING old or new).
#if PG_VERSION_NUM >= 160000
    v->varnullingrels = bms_copy(whole->varnullingrels);
#endif
#if PG_VERSION_NUM >= 180000
    v->varreturningtype = whole->varreturningtype;
#endif
    v->location = whole->location;
    args = lappend(args, v);
  }
  relation_close(rel, NoLock);
  ArrayType* arr = construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT);
  lsecond(args) = makeConst(TEXTARRAYOID, -1, DEFAULT_COLLATION_OID, -1, PointerGetDatum(arr), false, false);
  // The input collation the parser gives the same call written out: the arguments' one collation,
  // none where they differ (so that an index on that expression matches this one).
  Oid input_collation = InvalidOid;
  bool conflict = false;
  ListCell* lc;
  foreach (lc, args) {
    const Oid c = exprCollation(static_cast<Node*>(lfirst(lc)));
    if (c == InvalidOid) continue;
    if (input_collation == InvalidOid)
      input_collation = c;
    else if (c != input_collation)
      conflict = true;
  }
  if (conflict) input_collation = InvalidOid;
  record_plan_function_dependency(root, call->funcid);
  FuncExpr* out =
      makeFuncExpr(target, call->funcresulttype, args, InvalidOid, input_collation, COERCE_EXPLICIT_CALL);
  out->location = call->location;
  return reinterpret_cast<Node*>(out);
}

}  // namespace

extern "C" {
// custseg_predict_support(internal) RETURNS internal: the planner support function (see the top).
PG_FUNCTION_INFO_V1(custseg_predict_support);
Datum custseg_predict_support(PG_FUNCTION_ARGS) {
  Node* req = reinterpret_cast<Node*>(PG_GETARG_POINTER(0));
  if (IsA(req, SupportRequestSimplify)) PG_RETURN_POINTER(simplify(reinterpret_cast<SupportRequestSimplify*>(req)));
  PG_RETURN_POINTER(nullptr);
}
}
